"""Who is calling: the one caller identity every channel resolves to, shared by REST, GraphQL and pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SubjectKind(StrEnum):
    PERSON = "person"  # 参保人
    UNIT_OPERATOR = "unit_operator"  # 单位经办人
    STAFF = "staff"  # 经办机构工作人员
    CLIENT = "client"  # a device or system acting for itself (kiosk, hotline, partner)


class StaffRole(StrEnum):
    """Agency roles; the three administrators are separated (三员分离, DOMAIN.md §6.1)."""

    OPERATOR = "operator"
    REVIEWER = "reviewer"
    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    AUDITOR = "auditor"


class Channel(StrEnum):
    PORTAL = "portal"
    APP = "app"
    KIOSK = "kiosk"
    HOTLINE = "hotline"
    HALL = "hall"
    PARTNER = "partner"


@dataclass(frozen=True)
class Subject:
    """An authenticated caller.

    ``account_id`` is the hub account (or the client id for a client acting for itself). Row-level
    rules use the internal ids: ``person_id`` for a person, ``unit_id`` for a unit operator,
    ``region_codes`` (统筹区) for staff. A kiosk or hotline acting for a person after a card + PIN or
    ID + code check carries that ``person_id`` as well as its own ``client_id``.
    """

    kind: SubjectKind
    account_id: str
    client_id: str
    channel: Channel
    scopes: frozenset[str] = frozenset()
    person_id: int | None = None
    unit_id: int | None = None
    unit_admin: bool = False
    roles: frozenset[StaffRole] = frozenset()
    region_codes: frozenset[str] = frozenset()
    grant_id: str | None = None  # the OAuth grant or portal session the caller came through
    auth_methods: tuple[str, ...] = field(default=())  # amr: pwd, sms, otp, card, pin, captcha

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def has_role(self, role: StaffRole) -> bool:
        return self.kind is SubjectKind.STAFF and role in self.roles

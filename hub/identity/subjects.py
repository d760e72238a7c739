"""From an account (or a client) to the Subject every channel resolves to, with the scopes it may hold."""

from __future__ import annotations

from collections.abc import Iterable

from hub.access import scopes as scopes_mod
from hub.access.scopes import Scope
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity.accounts import Account

# Scope names (the operations of the REST/GraphQL layer).
# The scope names are the access layer's (hub.access.scopes); logins are capped to these sets.
PERSON_SCOPES = frozenset(s.value for s in scopes_mod.PERSON_SCOPES)
UNIT_SCOPES = frozenset({Scope.UNIT_READ.value})
AUDIT_SCOPE = Scope.AUDIT_READ.value
ALL_SCOPES = frozenset(s.value for s in Scope)
# OpenID Connect scopes: what the ID token and the userinfo endpoint may say about the user, not data access.
OPENID = "openid"
OIDC_SCOPES = frozenset({OPENID, "profile", "phone"})


def account_scopes(account: Account) -> frozenset[str]:
    """The most a login of this account may hold, whatever the client asks for."""
    if account.kind is SubjectKind.PERSON:
        return PERSON_SCOPES
    if account.kind is SubjectKind.UNIT_OPERATOR:
        return UNIT_SCOPES | {"person:read", "contribution:read"}
    scopes: set[str] = set()
    if account.roles & {StaffRole.OPERATOR, StaffRole.REVIEWER}:
        scopes |= PERSON_SCOPES | UNIT_SCOPES
    if StaffRole.AUDITOR in account.roles:
        scopes.add(AUDIT_SCOPE)
    return frozenset(scopes)


def for_account(
    account: Account,
    *,
    client_id: str,
    channel: Channel,
    scopes: Iterable[str],
    grant_id: str | None,
    auth_methods: Iterable[str],
) -> Subject:
    return Subject(
        kind=account.kind,
        account_id=account.id,
        client_id=client_id,
        channel=channel,
        scopes=frozenset(scopes) & (account_scopes(account) | OIDC_SCOPES),
        person_id=account.person_id,
        unit_id=account.unit_id,
        unit_admin=account.unit_admin,
        roles=account.roles,
        region_codes=account.region_codes if account.kind is SubjectKind.STAFF else frozenset(),
        grant_id=grant_id,
        auth_methods=tuple(auth_methods),
    )


def for_client(client_id: str, channel: Channel, scopes: Iterable[str], grant_id: str | None = None) -> Subject:
    return Subject(
        kind=SubjectKind.CLIENT,
        account_id=client_id,
        client_id=client_id,
        channel=channel,
        scopes=frozenset(scopes),
        grant_id=grant_id,
        auth_methods=("client_secret",),
    )

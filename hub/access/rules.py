"""Row-level rules: which records a subject may read, decided from the record's ownership facts.

A person sees only themself; a unit operator their unit and the people on its roster (overview,
insurance and their unit's contribution rows only); agency operators and reviewers the people and
units of their 统筹区 (at a hall counter only the person whose consent they hold); the three
administrators none (三员分离); a client acting for a person (a kiosk after card + PIN, the hotline
after ID + code) what that person sees. On top, the operation's scope
must be in the token and allowed for the channel. Services turn a refusal into the same ``NotFound``
a missing record gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.access.channels import policy
from hub.access.scopes import Scope
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind

# What a unit operator may read about the people on the roster.
UNIT_OPERATOR_PERSON_SCOPES = frozenset({Scope.PERSON_READ, Scope.CONTRIBUTION_READ})
DATA_ROLES = frozenset({StaffRole.OPERATOR, StaffRole.REVIEWER})


@dataclass(frozen=True)
class PersonFacts:
    """What decides access to a person: their 统筹区 and the units whose roster holds them."""

    person_id: int
    region_code: str | None
    unit_ids: frozenset[int]


@dataclass(frozen=True)
class UnitFacts:
    unit_id: int
    region_code: str | None


@dataclass(frozen=True)
class PersonGrant:
    """Access granted to one person's records; ``unit_id`` set limits rows to that unit's."""

    person_id: int
    unit_id: int | None = None


def may_use(subject: Subject, scope: Scope) -> bool:
    """The token carries the scope and the subject's channel allows it."""
    return subject.has_scope(scope) and scope in policy(subject.channel).scopes


def _staff_sees(subject: Subject, region_code: str | None) -> bool:
    return (
        subject.kind is SubjectKind.STAFF
        and bool(subject.roles & DATA_ROLES)
        and region_code is not None
        and region_code in subject.region_codes
    )


def person_grant(subject: Subject, scope: Scope, facts: PersonFacts | None) -> PersonGrant | None:
    """The grant for reading ``facts``'s person under ``scope``; None when refused or missing."""
    if facts is None or not may_use(subject, scope):
        return None
    if subject.kind in (SubjectKind.PERSON, SubjectKind.CLIENT):
        return PersonGrant(facts.person_id) if subject.person_id == facts.person_id else None
    if subject.kind is SubjectKind.UNIT_OPERATOR:
        if scope in UNIT_OPERATOR_PERSON_SCOPES and subject.unit_id is not None and subject.unit_id in facts.unit_ids:
            return PersonGrant(facts.person_id, subject.unit_id)
        return None
    if _staff_sees(subject, facts.region_code) and (
        subject.channel is not Channel.HALL or subject.person_id == facts.person_id
    ):
        # At a hall counter or the 12333 agent desk staff read only the person whose consent they hold:
        # channels/hall.py puts that person on the subject after checking the grant (hub.identity.consent).
        return PersonGrant(facts.person_id)
    return None


def unit_allowed(subject: Subject, facts: UnitFacts | None) -> bool:
    if facts is None or not may_use(subject, Scope.UNIT_READ):
        return False
    if subject.kind is SubjectKind.UNIT_OPERATOR:
        return subject.unit_id == facts.unit_id
    return _staff_sees(subject, facts.region_code)


def audit_allowed(subject: Subject) -> bool:
    """Only the auditor reads the audit log (三员分离), and only through a channel allowing it."""
    return subject.has_role(StaffRole.AUDITOR) and may_use(subject, Scope.AUDIT_READ)

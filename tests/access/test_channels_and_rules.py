"""The channel registry, masking and the row-level rules as pure functions."""

from __future__ import annotations

from hub.access import rules
from hub.access.channels import REGISTRY, mask_bank_card, masker
from hub.access.scopes import ALL_SCOPES, PERSON_SCOPES, Scope
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind

ALL = frozenset(s.value for s in ALL_SCOPES)


def test_every_channel_is_registered_and_only_the_hall_sees_numbers_in_full() -> None:
    assert set(REGISTRY) == set(Channel)
    for channel, policy in REGISTRY.items():
        assert policy.masking.id_number == (channel is not Channel.HALL)
        assert policy.masking.phone == (channel is not Channel.HALL)
    assert Scope.CARD_READ in REGISTRY[Channel.HOTLINE].scopes  # its status is spoken; the number stays masked
    assert REGISTRY[Channel.HOTLINE].masking.bank_card
    assert REGISTRY[Channel.PARTNER].scopes == frozenset({Scope.STATEMENT_READ})


def test_masking_formats() -> None:
    m = masker(Channel.KIOSK)
    assert m.id_number("11010519491231002X") == "110***********002X"
    assert m.phone("13812341234") == "138****1234"
    assert m.name("张三") == "张*"
    assert m.name("𠮷田明") == "𠮷*明"
    assert mask_bank_card("6222021234561234") == "6222 **** **** 1234"
    assert m.card_no("548426015") == "*****6015"
    hall = masker(Channel.HALL)
    assert hall.id_number("11010519491231002X") == "11010519491231002X"
    assert masker(Channel.PORTAL).name("张三") == "张三"


def _person(pid: int, channel: Channel = Channel.PORTAL, scopes: frozenset[str] = ALL) -> Subject:
    return Subject(SubjectKind.PERSON, "a", "c", channel, scopes, person_id=pid)


FACTS = rules.PersonFacts(7, "430100", frozenset({70}))


def test_person_rules() -> None:
    assert rules.person_grant(_person(7), Scope.CARD_READ, FACTS) == rules.PersonGrant(7)
    assert rules.person_grant(_person(8), Scope.CARD_READ, FACTS) is None
    assert rules.person_grant(_person(7), Scope.CARD_READ, None) is None
    # The scope must be in the token and allowed for the channel.
    assert rules.person_grant(_person(7, scopes=frozenset({"person:read"})), Scope.CARD_READ, FACTS) is None
    assert rules.person_grant(_person(7, Channel.HOTLINE), Scope.CARD_READ, FACTS) == rules.PersonGrant(7)
    assert rules.person_grant(_person(7, Channel.PARTNER), Scope.CARD_READ, FACTS) is None
    op = Subject(SubjectKind.UNIT_OPERATOR, "o", "c", Channel.PORTAL, ALL, unit_id=70)
    assert rules.person_grant(op, Scope.CONTRIBUTION_READ, FACTS) == rules.PersonGrant(7, 70)
    assert rules.person_grant(op, Scope.ACCOUNT_READ, FACTS) is None
    other = Subject(SubjectKind.UNIT_OPERATOR, "o", "c", Channel.PORTAL, ALL, unit_id=71)
    assert rules.person_grant(other, Scope.PERSON_READ, FACTS) is None


def test_staff_rules_and_separation_of_duties() -> None:
    def staff(role: StaffRole, region: str = "430100") -> Subject:
        return Subject(
            SubjectKind.STAFF, "s", "c", Channel.PORTAL, ALL, roles=frozenset({role}), region_codes=frozenset({region})
        )

    assert rules.person_grant(staff(StaffRole.REVIEWER), Scope.ACCOUNT_READ, FACTS) is not None
    assert rules.person_grant(staff(StaffRole.REVIEWER, "430200"), Scope.ACCOUNT_READ, FACTS) is None
    for admin in (StaffRole.SYSTEM_ADMIN, StaffRole.SECURITY_ADMIN, StaffRole.AUDITOR):
        assert rules.person_grant(staff(admin), Scope.PERSON_READ, FACTS) is None
        assert not rules.unit_allowed(staff(admin), rules.UnitFacts(70, "430100"))
    assert rules.audit_allowed(staff(StaffRole.AUDITOR))
    assert not rules.audit_allowed(staff(StaffRole.SECURITY_ADMIN))
    assert not rules.audit_allowed(_person(7))
    assert PERSON_SCOPES <= ALL_SCOPES


def test_hall_staff_read_only_the_person_whose_consent_they_hold() -> None:
    """On the hall channel the row rule itself needs the consented person on the subject (channels/hall.py
    sets it after checking the grant); region and role alone are not enough there."""
    from dataclasses import replace

    reviewer = Subject(
        SubjectKind.STAFF,
        "s",
        "c",
        Channel.HALL,
        ALL,
        roles=frozenset({StaffRole.REVIEWER}),
        region_codes=frozenset({"430100"}),
    )
    assert rules.person_grant(reviewer, Scope.PERSON_READ, FACTS) is None  # no consent on the subject
    other = replace(reviewer, person_id=FACTS.person_id + 1)
    assert rules.person_grant(other, Scope.PERSON_READ, FACTS) is None  # consent for someone else
    consented = replace(reviewer, person_id=FACTS.person_id)
    assert rules.person_grant(consented, Scope.PERSON_READ, FACTS) == rules.PersonGrant(FACTS.person_id)
    away = replace(consented, region_codes=frozenset({"430200"}))
    assert rules.person_grant(away, Scope.PERSON_READ, FACTS) is None  # consent does not widen the region

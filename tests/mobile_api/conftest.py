"""The seeded province and app of tests/api, the ministry fixture server, and app callers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from mobile_api.ministry import MinistryClient, MinistryConfig
from mobile_api.ministry_fixture import MinistryFixture
from tests.api.conftest import Api, Province, api, province  # noqa: F401 (fixtures used by this package)

PERSON_SCOPE_VALUES = frozenset(s.value for s in PERSON_SCOPES)


def app_person(person_id: int, channel: Channel = Channel.APP) -> Subject:
    """A person logged in through the app (or, with ``channel``, through another front end)."""
    return Subject(
        SubjectKind.PERSON,
        f"p{person_id}-{uuid.uuid4().hex[:6]}",
        "app-12333" if channel is Channel.APP else f"{channel.value}-web",
        channel,
        PERSON_SCOPE_VALUES,
        person_id=person_id,
        auth_methods=("pwd", "sms"),
    )


def staff(*roles: StaffRole) -> Subject:
    return Subject(
        SubjectKind.STAFF,
        f"staff-{uuid.uuid4().hex[:6]}",
        "portal-web",
        Channel.PORTAL,
        roles=frozenset(roles),
        region_codes=frozenset({"430100"}),
    )


@pytest.fixture
def ministry() -> Iterator[MinistryFixture]:
    """The ministry fixture as a real HTTP server on a loopback port."""
    with MinistryFixture() as server:
        yield server


def use_ministry(app_api: Api, server: MinistryFixture, **config: object) -> MinistryClient:
    """Point the running app at ``server`` with a fresh client (and breaker) built from ``config``."""
    state = app_api.client.app.state  # type: ignore[attr-defined]
    client = MinistryClient(MinistryConfig(base_url=server.url, **config), state.redis)  # type: ignore[arg-type]
    state.ministry = client
    return client

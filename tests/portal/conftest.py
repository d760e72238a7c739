"""The gateway app over the seeded province, with two person accounts and a unit operator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub import pg
from hub.identity import admin
from tests.api.conftest import Province, province
from tests.identity.oauthkit import PW, make_app
from tests.portal.kit import Person, person_account, working_persons

__all__ = ["province"]


@dataclass
class Portal:
    app: FastAPI
    client: TestClient
    me: Person
    other: Person
    operator: dict[str, object]


@pytest.fixture
def portal(province: Province) -> Iterator[Portal]:
    app, _clock = make_app(province, test_fixed_captcha="TEST")
    with TestClient(app, raise_server_exceptions=False) as client:
        rt = app.state.identity
        first, second = working_persons(province)[:2]
        me, other = person_account(province, rt.cfg, first), person_account(province, rt.cfg, second)
        unit = province.units[0]
        login, phone = f"jbr{uuid.uuid4().hex[:6]}", f"137{uuid.uuid4().int % 10**8:08d}"
        with pg.connect(province.hub_url) as conn:
            admin.insert_unit_operator(conn, rt.cfg, unit["unit_id"], login, "经办人", phone, PW, True, rt.clock(), "t")
            conn.commit()
        yield Portal(app, client, me, other, {"unit": unit, "login": login, "phone": phone})

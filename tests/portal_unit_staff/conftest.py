"""The unit-staff portal tests: the seeded province of the API tests and operators logged in to its units."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.identity import admin
from tests.api.conftest import Province, province
from tests.identity.oauthkit import PW, make_app

__all__ = ["province"]

CODE = "246810"
Login = Callable[[int], TestClient]


def hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def log_in(stack: ExitStack, dbs: Any, unit_id: int) -> TestClient:
    """A client of a new operator of ``unit_id`` logged in with password, captcha and SMS code."""
    app, _ = make_app(dbs, test_fixed_captcha="TEST", test_fixed_sms_code=CODE)
    client = stack.enter_context(TestClient(app))
    name = f"st{uuid.uuid4().hex[:6]}"
    rt = app.state.identity
    with pg.connect(dbs.hub_url) as conn:
        phone = f"136{uuid.uuid4().int % 10**8:08d}"
        admin.insert_unit_operator(conn, rt.cfg, unit_id, name, "经办人", phone, PW, True, rt.clock(), "t")
        conn.commit()
    form = client.get("/auth/login?kind=unit_operator")
    started = client.post(
        "/auth/login",
        data={**hidden(form.text), "kind": "unit_operator", "unit_code": str(unit_id), "login": name,
              "password": PW, "captcha": "TEST", "next": "/portal/unit"},
    )  # fmt: skip
    assert started.status_code == 200, started.text
    done = client.post(
        "/auth/login/verify",
        data={**hidden(started.text), "code": CODE, "next": "/portal/unit"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/portal/unit"
    return client


@pytest.fixture
def login(province: Province) -> Iterator[Login]:
    """Log in a new operator of a unit (by id) of the seeded province; one client each."""
    with ExitStack() as stack:
        yield lambda unit_id: log_in(stack, province, unit_id)

"""The gateway app for identity tests, and helpers that walk the login pages and the OAuth flows."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.identity.runtime import IdentityRuntime
from hub import pg
from hub.access.subject import Channel, StaffRole
from hub.identity import admin, clients, subjects
from hub.runtime import Endpoints
from hub.settings import Settings, SyncSettings
from tests.conftest import Databases, DatabaseUrls
from tests.identity.idkit import T0, MovableClock, auth_settings, last_code

APP_REDIRECT = "cn.gov.hrss.app12333:/oauth/callback"
PW = "Staff@2026x"
KIOSK_SECRET = "kiosk-secret-for-tests"
STAFF_PHONE = "13800000021"


class BrowserClient(TestClient):
    """A test client that, like a browser showing the form first, sends the page's CSRF token with every
    form it posts to the login pages (unless the test gives a ``csrf_token`` of its own)."""

    def csrf_token(self) -> str:
        page = TestClient.get(self, "/auth/login")
        return hidden(page.text, "csrf_token")

    def post(self, url: Any, *args: Any, **kwargs: Any) -> Any:
        data = kwargs.get("data")
        if str(url).startswith("/auth/") and (data is None or "csrf_token" not in data):
            kwargs["data"] = {**(data or {}), "csrf_token": self.csrf_token()}
        return super().post(url, *args, **kwargs)


def make_app(dbs: DatabaseUrls, clock: MovableClock | None = None, **auth: Any) -> tuple[FastAPI, MovableClock]:
    settings = Settings(
        environment="test",
        core_db_url=dbs.core_url,
        hub_db_url=dbs.hub_url,
        query_db_url=dbs.query_url,
        redis_url=dbs.redis_url,
        sync=SyncSettings(embedded=False),
        auth=auth_settings(**auth),
    )
    app = create_app(settings, Endpoints(dbs.core_url, dbs.hub_url, dbs.query_url, dbs.redis_url))
    rt: IdentityRuntime = app.state.identity
    clock = clock or MovableClock(T0)
    rt.clock = clock
    return app, clock


def seed_clients_and_staff(dbs: DatabaseUrls, rt: IdentityRuntime) -> str:
    """The app (public), a kiosk (client credentials) and a reviewer; returns the reviewer's account id."""
    with pg.connect(dbs.hub_url) as conn:
        clients.register(
            conn,
            client_id="app-12333",
            name="掌上12333",
            channel=Channel.APP,
            grant_types=[clients.AUTHORIZATION_CODE, clients.REFRESH_TOKEN],
            scopes=sorted(subjects.ALL_SCOPES | subjects.OIDC_SCOPES),
            redirect_uris=[APP_REDIRECT],
            public=True,
            now=T0,
        )
        clients.register(
            conn,
            client_id="kiosk-01",
            name="自助终端",
            channel=Channel.KIOSK,
            grant_types=[clients.CLIENT_CREDENTIALS],
            scopes=["person:read", "contribution:read"],
            secret=KIOSK_SECRET,
            now=T0,
        )
        clients.register(
            conn,
            client_id="resource-server",
            name="资源服务",
            channel=Channel.PARTNER,
            grant_types=[clients.CLIENT_CREDENTIALS],
            scopes=["token:introspect"],
            secret="rs-secret",
            now=T0,
        )
        account_id = admin.bootstrap_staff(
            conn,
            rt.cfg,
            login="reviewer01",
            display_name="审核员",
            phone=STAFF_PHONE,
            password=PW,
            role=StaffRole.REVIEWER,
            region_codes=("430102",),
            now=T0,
        )
        conn.commit()
    return account_id


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def login_staff(client: TestClient, dbs: Databases, next_url: str = "") -> None:
    """Walk the staff login pages (password, then the SMS code from the outbox); leaves the session cookie."""
    page = client.post(
        "/auth/login",
        data={"kind": "staff", "login": "reviewer01", "password": PW, "next": next_url},
    )
    assert page.status_code == 200, page.text
    ticket = hidden(page.text, "ticket")
    with pg.connect(dbs.hub_url) as conn:
        code = last_code(conn, STAFF_PHONE)
    done = client.post(
        "/auth/login/verify", data={"ticket": ticket, "code": code, "next": next_url}, follow_redirects=False
    )
    assert done.status_code == 303, done.text


def authorize(client: TestClient, challenge: str, *, state: str = "xyz", method: str = "S256", **extra: str) -> Any:
    return client.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": "app-12333",
            "redirect_uri": APP_REDIRECT,
            "scope": "person:read unit:read",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": method,
            **extra,
        },
        follow_redirects=False,
    )


def code_from(location: str) -> dict[str, str]:
    query = parse_qs(urlsplit(location).query)
    return {k: v[0] for k, v in query.items()}


def exchange(client: TestClient, code: str, verifier: str) -> Any:
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": APP_REDIRECT,
            "client_id": "app-12333",
            "code_verifier": verifier,
        },
    )

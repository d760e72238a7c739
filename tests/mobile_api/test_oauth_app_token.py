"""End to end: a person logs in through the app's OAuth flow (authorization code + PKCE) and reads themself;
a staff member logging in through the same app client gets a genuine app token and is still refused."""

from __future__ import annotations

from typing import Any

import psycopg

from hub import pg
from hub.access.subject import SubjectKind
from hub.identity import accounts
from hub.identity.config import IdentityConfig
from hub.identity.passwords import hash_password
from tests.conftest import Databases
from tests.identity.idkit import REGION, T0, CorePerson, build_core, last_code
from tests.identity.oauthkit import (
    BrowserClient,
    authorize,
    code_from,
    exchange,
    hidden,
    login_staff,
    make_app,
    pkce,
    seed_clients_and_staff,
)

SCOPES = "openid person:read contribution:read account:read card:read"
PERSON_PW = "Zhang@2026a"


def _person_account(hub: psycopg.Connection[Any], cfg: IdentityConfig, person: CorePerson) -> None:
    """A registered person account (registration itself is the identity area's test)."""
    accounts.insert(
        hub,
        kind=SubjectKind.PERSON,
        login=accounts.person_login(cfg.hmac_key, "01", person.id_number),
        display_name=person.name,
        password_hash=hash_password(PERSON_PW),
        now=T0,
        phone=person.phone,
        person_id=person.person_id,
        region_codes=(REGION,),
    )
    hub.commit()


def _app_token(client: BrowserClient) -> str:
    verifier, challenge = pkce()
    granted = authorize(client, challenge, scope=SCOPES)
    assert granted.status_code == 302, granted.text
    token = exchange(client, code_from(granted.headers["location"])["code"], verifier)
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def test_person_app_token_reads_only_themself_and_staff_is_refused(dbs: Databases) -> None:
    from sync.backfill import backfill

    core = build_core(dbs.core_url)
    backfill(dbs.core_url, dbs.query_url)
    zhang = core.persons["zhang"]
    app, _ = make_app(dbs)
    with BrowserClient(app) as client:
        seed_clients_and_staff(dbs, app.state.identity)
        with pg.connect(dbs.hub_url) as hub:
            _person_account(hub, app.state.identity.cfg, zhang)
        step = client.post(
            "/auth/login",
            data={"kind": "person", "document_type": "01", "login": zhang.id_number, "password": PERSON_PW, "next": ""},
        )
        assert step.status_code == 200, step.text
        with pg.connect(dbs.hub_url) as hub:
            code = last_code(hub, zhang.phone or "")
        client.post("/auth/login/verify", data={"ticket": hidden(step.text, "ticket"), "code": code, "next": ""})
        token = _app_token(client)
        client.cookies.clear()  # from here on only the bearer token speaks for the caller

        me = client.get("/app/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        data = me.json()["data"]
        assert data["person_id"] == zhang.person_id
        assert data["name"] == zhang.name
        assert data["id_number"] != zhang.id_number and data["id_number"][-4:] == zhang.id_number[-4:]
        assert data["real_name"]["verified"] is True
        assert set(data["real_name"]["methods"]) >= {"pwd", "sms"}
        assert client.get("/app/v1/me/card", headers={"Authorization": f"Bearer {token}"}).status_code == 200

        # The reviewer, through the same app client: an app-channel token, but not a person's.
        login_staff(client, dbs)
        staff_token = _app_token(client)
        client.cookies.clear()
        refused = client.get("/app/v1/me", headers={"Authorization": f"Bearer {staff_token}"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "APP_LOGIN_REQUIRED"

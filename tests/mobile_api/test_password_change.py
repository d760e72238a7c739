"""``POST /app/v1/me/password`` end to end: a person logged in through the app's OAuth flow changes the
login password; Chinese problems with stable codes, the lockout, other logins ended, this one kept."""

from __future__ import annotations

from typing import Any

from hub import pg
from hub.access.subject import SubjectKind
from hub.identity import accounts
from hub.identity.passwords import verify_password
from tests import dbkit
from tests.conftest import Databases
from tests.identity.idkit import REGION, T0, build_core
from tests.identity.oauthkit import (
    BrowserClient,
    authorize,
    code_from,
    exchange,
    hidden,
    make_app,
    pkce,
    seed_clients_and_staff,
)

CODE = "135790"
SCOPES = "openid person:read contribution:read account:read card:read"
PERSON_PW = "Zhang@2026a"
PATH = "/app/v1/me/password"


def _token(client: BrowserClient) -> tuple[str, str]:
    """(access token, refresh token) of a new app grant, through the portal session."""
    verifier, challenge = pkce()
    granted = authorize(client, challenge, scope=SCOPES)
    assert granted.status_code == 302, granted.text
    token = exchange(client, code_from(granted.headers["location"])["code"], verifier)
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"]), str(token.json()["refresh_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit(dbs: Databases, account_id: str) -> list[tuple[str, ...]]:
    """(result, client, channel) of the account's password-change records, in order."""
    return dbkit.audit(
        dbs.hub_url, "result, client_id, channel", "action = 'auth.password_change' and target_id = %s", (account_id,)
    )


def _stored_hash(dbs: Databases, account_id: str) -> str:
    with pg.connect(dbs.hub_url) as hub:
        account = accounts.get(hub, account_id)
    assert account is not None
    return account.password_hash


def test_the_app_changes_the_password(dbs: Databases) -> None:
    from sync.backfill import backfill

    zhang = build_core(dbs.core_url).persons["zhang"]
    backfill(dbs.core_url, dbs.query_url)
    app, clock = make_app(dbs, test_fixed_sms_code=CODE)
    with BrowserClient(app) as client:
        rt = app.state.identity
        seed_clients_and_staff(dbs, rt)
        with pg.connect(dbs.hub_url) as hub:
            from hub.identity.passwords import hash_password

            account_id = accounts.insert(
                hub, kind=SubjectKind.PERSON, login=accounts.person_login(rt.cfg.hmac_key, "01", zhang.id_number),
                display_name=zhang.name, password_hash=hash_password(PERSON_PW), now=T0, phone=zhang.phone,
                person_id=zhang.person_id, region_codes=(REGION,),
            )  # fmt: skip
            hub.commit()
        step = client.post(
            "/auth/login",
            data={"kind": "person", "document_type": "01", "login": zhang.id_number, "password": PERSON_PW, "next": ""},
        )
        assert step.status_code == 200, step.text
        client.post("/auth/login/verify", data={"ticket": hidden(step.text, "ticket"), "code": CODE, "next": ""})
        mine, _ = _token(client)
        other, other_refresh = _token(client)  # the same person's app on a second phone

        # A portal session is not the app.
        portal = client.post(PATH, json={"current_password": PERSON_PW, "new_password": "Fresh@2026b"})
        assert portal.status_code == 403 and portal.json()["code"] == "APP_LOGIN_REQUIRED"
        session = client.cookies.get("hub_session")
        client.cookies.clear()

        def change(current: str, new: str, token: str = mine) -> Any:
            return client.post(PATH, json={"current_password": current, "new_password": new}, headers=_bearer(token))

        wrong = change("Wrong@pass1", "Fresh@2026b")
        assert wrong.status_code == 400 and wrong.headers["content-type"].startswith("application/problem+json")
        assert (wrong.json()["code"], wrong.json()["detail"]) == ("WRONG_PASSWORD", "当前密码不正确")
        weak = change(PERSON_PW, "abc")  # 3 characters of one class: two rules broken
        assert weak.status_code == 422 and weak.json()["code"] == "WEAK_PASSWORD"
        assert weak.json()["rules"] == ["密码长度至少8位", "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类"]
        same = change(PERSON_PW, PERSON_PW)
        assert same.status_code == 422 and same.json()["rules"] == ["新密码不能与当前密码相同"]
        missing = client.post(PATH, json={"current_password": PERSON_PW}, headers=_bearer(mine))
        assert missing.status_code == 422 and missing.json()["code"] == "INVALID_REQUEST"
        assert verify_password(_stored_hash(dbs, account_id), PERSON_PW)  # nothing changed so far

        done = change(PERSON_PW, "Fresh@2026b")
        assert done.status_code == 200, done.text
        assert done.json() == {"changed_at": "2026-03-02T01:00:00Z", "signed_out_elsewhere": 1}
        assert verify_password(_stored_hash(dbs, account_id), "Fresh@2026b")
        assert client.get("/app/v1/me", headers=_bearer(mine)).status_code == 200  # this app stays logged in
        ended = client.get("/app/v1/me", headers=_bearer(other))
        assert ended.status_code == 401 and ended.json()["code"] == "AUTH_REQUIRED"
        refreshed = client.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": other_refresh, "client_id": "app-12333"},
        )
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
        client.cookies.set("hub_session", session or "")
        assert client.get("/auth/account", follow_redirects=False).headers["location"] == "/auth/login"
        client.cookies.clear()

        # Wrong current passwords count toward the login lockout (the change cleared the earlier one): the 5th
        # locks this source for 15 minutes, and then the right one gets the same answer and changes nothing.
        for _ in range(5):
            assert change("Wrong@pass2", "Other@2026c").json()["code"] == "WRONG_PASSWORD"
        clock.advance(60)
        locked = change("Fresh@2026b", "Other@2026c")
        assert locked.status_code == 400 and locked.json()["detail"] == "当前密码不正确"
        assert verify_password(_stored_hash(dbs, account_id), "Fresh@2026b")
        rows = _audit(dbs, account_id)
        assert [r for r, _, _ in rows] == ["failed", "ok", "failed", "failed", "failed", "failed", "failed", "locked"]
        assert rows[1] == ("ok", "app-12333", "app")  # the change itself names the client and the channel


def test_the_route_is_documented(dbs: Databases) -> None:
    app, _ = make_app(dbs)
    with BrowserClient(app) as client:
        spec = client.get("/openapi.json").json()
    operation = spec["paths"][PATH]["post"]
    assert operation["summary"] == "修改登录密码"
    assert {"200", "400", "401", "403", "422"} <= set(operation["responses"])
    assert "WRONG_PASSWORD" in operation["responses"]["400"]["description"]
    body = spec["components"]["schemas"][
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    ]
    assert set(body["required"]) == {"current_password", "new_password"}

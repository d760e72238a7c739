"""OAuth events in the audit chain, a replayed authorization code revoking its tokens, and OIDC userinfo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from gateway.identity import Authenticated
from hub import pg
from hub.access.subject import Channel
from hub.audit import sync_writer
from hub.audit.verify import verify
from hub.identity import clients
from tests.conftest import Databases
from tests.identity.idkit import T0
from tests.identity.oauthkit import (
    KIOSK_SECRET,
    STAFF_PHONE,
    BrowserClient,
    authorize,
    code_from,
    exchange,
    login_staff,
    make_app,
    pkce,
    seed_clients_and_staff,
)


@pytest.fixture
def env(dbs: Databases) -> Iterator[tuple[BrowserClient, Any, str]]:
    app, clock = make_app(dbs)

    @app.get("/t/me")
    def me(subject: Authenticated) -> dict[str, Any]:
        return {"account": subject.account_id}

    with BrowserClient(app) as client:
        reviewer = seed_clients_and_staff(dbs, app.state.identity)
        yield client, clock, reviewer


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _oauth_events(dbs: Databases) -> list[tuple[str, str, str, str, str, str]]:
    """(action, result, actor, client, channel, target) of the OAuth records, in chain order."""
    with pg.connect(dbs.hub_url) as conn:
        rows = conn.execute(
            "select action, result, actor, client_id, channel, target_id from hub.audit_log "
            "where action like 'oauth.%%' and chain_id = %s order by seq",
            (sync_writer.CHAIN_ID,),
        ).fetchall()
    return [tuple(str(v) for v in r) for r in rows]  # type: ignore[misc]


def _chain_intact(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        _, findings = verify(conn, None)
    assert findings == []


def _grant_state(dbs: Databases) -> list[tuple[str, str | None]]:
    with pg.connect(dbs.hub_url) as conn:
        return [
            (cast(str, r[0]), cast("str | None", r[1]))  # id: text, revoked_reason: text (nullable)
            for r in conn.execute("select id, revoked_reason from hub.oauth_grant order by created_at")
        ]


def _refresh(client: TestClient, token: str) -> Any:
    return client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "app-12333"}
    )


def test_every_token_event_is_in_the_audit_chain(env: tuple[BrowserClient, Any, str], dbs: Databases) -> None:
    client, _, reviewer = env
    verifier, challenge = pkce()
    login_staff(client, dbs)
    start = len(_oauth_events(dbs))
    code = code_from(authorize(client, challenge).headers["location"])["code"]
    first = exchange(client, code, verifier).json()
    second = _refresh(client, first["refresh_token"]).json()
    assert _refresh(client, first["refresh_token"]).json()["error"] == "invalid_grant"  # reuse
    kiosk = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("kiosk-01", KIOSK_SECRET))
    client.post("/oauth/revoke", data={"token": kiosk.json()["access_token"]}, auth=("kiosk-01", KIOSK_SECRET))
    client.post("/oauth/revoke", data={"token": second["refresh_token"], "client_id": "app-12333"})
    ((grant, reason),) = _grant_state(dbs)
    assert reason == "refresh token reuse"
    events = _oauth_events(dbs)[start:]
    app = ("app-12333", "app")
    assert [(e[0], e[1]) for e in events] == [
        ("oauth.code.issue", "ok"),
        ("oauth.code.redeem", "ok"),
        ("oauth.token.issue", "ok"),
        ("oauth.refresh.rotate", "ok"),
        ("oauth.token.issue", "ok"),
        ("oauth.refresh.reuse", "grant_revoked"),
        ("oauth.token.issue", "ok"),  # the kiosk's client credentials
        ("oauth.revoke", "ok"),
        ("oauth.revoke", "ok"),
    ]
    for e in events[:6] + events[8:]:
        assert (e[2], e[3], e[4]) == (reviewer, *app), e
    assert {e[5] for e in events[2:6]} == {grant}  # the grant is the target of token and refresh events
    assert events[6][2:5] == ("kiosk-01", "kiosk-01", "kiosk") and events[7][2:5] == ("kiosk-01", "kiosk-01", "kiosk")
    # Only ids go into the log: never a code or a token.
    with pg.connect(dbs.hub_url) as conn:
        dump = str(conn.execute("select * from hub.audit_log").fetchall())
    for secret in (code, first["refresh_token"], second["refresh_token"], first["access_token"]):
        assert secret not in dump
    _chain_intact(dbs)


def test_a_code_redeemed_twice_revokes_the_tokens_issued_from_it(
    env: tuple[BrowserClient, Any, str], dbs: Databases
) -> None:
    """RFC 6749 §4.1.2: the second redemption is denied and the first one's tokens stop working."""
    client, clock, _ = env
    verifier, challenge = pkce()
    login_staff(client, dbs)
    code = code_from(authorize(client, challenge).headers["location"])["code"]
    tokens = exchange(client, code, verifier).json()
    assert client.get("/t/me", headers=_bearer(tokens["access_token"])).status_code == 200
    clock.advance(120)  # past the code's 60 s lifetime: a late replay is recognised all the same
    from hub.identity.prune import prune

    with pg.connect(dbs.hub_url) as conn:
        prune(conn, clock.now)  # the daily clean-up keeps redeemed codes a day for this
        conn.commit()
    again = exchange(client, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "access_token" not in again.json()
    assert client.get("/t/me", headers=_bearer(tokens["access_token"])).status_code == 401
    assert _refresh(client, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    introspected = client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, auth=("resource-server", "rs-secret")
    )
    assert introspected.json() == {"active": False}
    ((grant, reason),) = _grant_state(dbs)
    assert reason == "authorization code replayed"
    assert _oauth_events(dbs)[-1][:2] == ("oauth.code.replay", "grant_revoked")
    assert _oauth_events(dbs)[-1][5] == grant
    # A code that was never issued is just refused: no grant is touched and nothing is recorded as a replay.
    before = _oauth_events(dbs)
    assert exchange(client, "never-issued", verifier).json()["error"] == "invalid_grant"
    assert _oauth_events(dbs) == before
    _chain_intact(dbs)


def test_a_replay_racing_the_first_redemption_still_revokes(
    env: tuple[BrowserClient, Any, str], dbs: Databases
) -> None:
    """The replay is seen before the first redemption has made its grant: the grant is revoked when made."""
    from hub.identity import grants

    client, clock, _ = env
    verifier, challenge = pkce()
    login_staff(client, dbs)
    code = code_from(authorize(client, challenge).headers["location"])["code"]
    rt = client.app.state.identity  # type: ignore[attr-defined]
    with pg.connect(dbs.hub_url) as conn:  # mark the code redeemed (the first redemption's step one) …
        assert grants.use_code(conn, rt.cfg.hmac_key, code, clock.now)
        conn.commit()
    replay = exchange(client, code, verifier)  # … the replay arrives now: no grant exists yet
    assert replay.json()["error"] == "invalid_grant"
    assert _oauth_events(dbs)[-1][:2] == ("oauth.code.replay", "denied")
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute("select replayed_at is not null, grant_id from hub.oauth_code").fetchone()
        assert row == (True, None)
        # The first redemption then links its new grant: it learns of the replay.
        gid = grants.create_grant(
            conn, client_id="app-12333", account_id=None, scope="", auth_methods=("pwd",), now=clock.now
        )
        assert grants.link_code_grant(conn, rt.cfg.hmac_key, code, gid) is True


def test_userinfo_gives_only_what_the_scopes_allow(env: tuple[BrowserClient, Any, str], dbs: Databases) -> None:
    client, _, reviewer = env
    login_staff(client, dbs)

    def token(scope: str) -> str:
        verifier, challenge = pkce()
        location = authorize(client, challenge, scope=scope).headers["location"]
        body = exchange(client, code_from(location)["code"], verifier).json()
        return str(body["access_token"])

    full = client.get("/oauth/userinfo", headers=_bearer(token("openid profile phone person:read unit:read")))
    assert full.status_code == 200, full.text
    # The app channel shows names and masks phones (DOMAIN.md §6.2); a reviewer has no person or unit id.
    assert full.json() == {
        "sub": reviewer,
        "kind": "staff",
        "name": "审核员",
        "phone_number": STAFF_PHONE[:3] + "****" + STAFF_PHONE[-4:],
        "phone_number_verified": True,
    }
    assert full.headers["cache-control"] == "no-store"
    assert STAFF_PHONE not in full.text
    bare = client.post("/oauth/userinfo", headers=_bearer(token("openid person:read")))
    assert bare.json() == {"sub": reviewer, "kind": "staff"}
    no_openid = client.get("/oauth/userinfo", headers=_bearer(token("person:read profile")))
    assert no_openid.status_code == 403 and "insufficient_scope" in no_openid.headers["www-authenticate"]
    kiosk = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("kiosk-01", KIOSK_SECRET))
    assert client.get("/oauth/userinfo", headers=_bearer(kiosk.json()["access_token"])).status_code == 403
    nobody = client.get("/oauth/userinfo")  # the portal session cookie is not enough: a token is required
    assert nobody.status_code == 401 and nobody.headers["content-type"] == "application/problem+json"
    assert client.get("/oauth/userinfo", headers=_bearer("garbage")).status_code == 401
    with pg.connect(dbs.hub_url) as conn:
        audited = conn.execute(
            "select purpose from hub.audit_log where action = 'oauth.userinfo' order by seq"
        ).fetchall()
    assert audited == [("oauth:name,phone_number,phone_number_verified",), ("oauth",)]
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["userinfo_endpoint"] == "http://127.0.0.1:8000/oauth/userinfo"
    assert {"openid", "profile", "phone"} <= set(doc["scopes_supported"])
    assert {"name", "phone_number"} <= set(doc["claims_supported"])


def test_userinfo_masks_by_the_clients_channel(env: tuple[BrowserClient, Any, str], dbs: Databases) -> None:
    """A kiosk-channel client with a user login gets the name masked as well (a screen in a public hall)."""
    client, _, reviewer = env
    with pg.connect(dbs.hub_url) as conn:
        clients.register(
            conn,
            client_id="kiosk-app",
            name="自助终端登录",
            channel=Channel.KIOSK,
            grant_types=[clients.AUTHORIZATION_CODE],
            scopes=["openid", "profile", "phone"],
            redirect_uris=["https://kiosk.example/cb"],
            public=True,
            now=T0,
        )
        conn.commit()
    login_staff(client, dbs)
    verifier, challenge = pkce()
    location = client.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": "kiosk-app",
            "redirect_uri": "https://kiosk.example/cb",
            "scope": "openid profile phone",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        follow_redirects=False,
    ).headers["location"]
    body = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code_from(location)["code"],
            "redirect_uri": "https://kiosk.example/cb",
            "client_id": "kiosk-app",
            "code_verifier": verifier,
        },
    ).json()
    info = client.get("/oauth/userinfo", headers=_bearer(body["access_token"])).json()
    # 审核员 has three characters: first + * + last (DOMAIN.md §6.2); 13800000021 → first 3, ****, last 4.
    assert info["sub"] == reviewer and info["name"] == "审*员" and info["phone_number"] == "138****0021"

"""The OAuth server end to end through the FastAPI app: code + PKCE, client credentials, refresh rotation
with reuse detection, revocation, introspection, expiry with a movable clock, JWKS rotation, discovery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, cast

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from gateway.identity import Authenticated, require_scopes
from hub import pg
from hub.access.subject import Subject
from hub.identity import keys
from tests.conftest import Databases
from tests.identity.oauthkit import (
    APP_REDIRECT,
    KIOSK_SECRET,
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
def env(dbs: Databases) -> Iterator[tuple[TestClient, Any, str]]:
    app, clock = make_app(dbs)

    @app.get("/t/me")
    def me(subject: Authenticated) -> dict[str, Any]:
        return {
            "kind": subject.kind.value,
            "account": subject.account_id,
            "client": subject.client_id,
            "channel": subject.channel.value,
            "scopes": sorted(subject.scopes),
            "roles": sorted(r.value for r in subject.roles),
            "grant": subject.grant_id,
            "amr": list(subject.auth_methods),
            "regions": sorted(subject.region_codes),
        }

    @app.get("/t/unit")
    def unit(subject: Annotated[Subject, Depends(require_scopes("unit:read"))]) -> dict[str, str]:
        return {"account": subject.account_id}

    with BrowserClient(app) as client:
        reviewer = seed_clients_and_staff(dbs, app.state.identity)
        yield client, clock, reviewer


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tokens(client: TestClient, dbs: Databases) -> dict[str, Any]:
    verifier, challenge = pkce()
    login_staff(client, dbs)
    location = authorize(client, challenge).headers["location"]
    response = exchange(client, code_from(location)["code"], verifier)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_authorization_code_with_pkce_end_to_end(env: tuple[TestClient, Any, str], dbs: Databases) -> None:
    client, _, reviewer = env
    verifier, challenge = pkce()
    # No session yet: the authorize request is parked and the user is sent to log in.
    first = authorize(client, challenge)
    assert first.status_code == 303 and first.headers["location"].startswith("/auth/login?next=%2Foauth%2Fauthorize")
    next_url = first.headers["location"].split("next=", 1)[1]
    from urllib.parse import unquote

    login_staff(client, dbs, next_url=unquote(next_url))
    second = authorize(client, challenge)
    assert second.status_code == 302
    assert second.headers["location"].startswith(APP_REDIRECT + "?")
    params = code_from(second.headers["location"])
    assert params["state"] == "xyz"
    token = exchange(client, params["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["refresh_token"].startswith("rt_")
    assert token.headers["cache-control"] == "no-store"
    # A reviewer asked for person:read unit:read through the app: both within the client's and the role's reach.
    assert body["scope"] == "person:read unit:read"
    me = client.get("/t/me", headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "kind": "staff",
        "account": reviewer,
        "client": "app-12333",
        "channel": "app",
        "scopes": ["person:read", "unit:read"],
        "roles": ["reviewer"],
        "grant": me.json()["grant"],
        "amr": ["pwd", "sms"],
        "regions": ["430102"],
    }
    assert me.json()["grant"].startswith("gr_")
    assert client.get("/t/unit", headers=_bearer(body["access_token"])).json() == {"account": reviewer}
    # The code is single use.
    again = exchange(client, params["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_pkce_is_required_and_only_s256(env: tuple[TestClient, Any, str], dbs: Databases) -> None:
    client, _, _ = env
    login_staff(client, dbs)
    verifier, challenge = pkce()
    for kwargs in ({"method": "plain"}, {"method": ""}):
        refused = authorize(client, challenge if kwargs["method"] == "plain" else "", **kwargs)
        assert refused.status_code == 302
        assert code_from(refused.headers["location"])["error"] == "invalid_request"
    ok = authorize(client, challenge)
    wrong = exchange(
        client, code_from(ok.headers["location"])["code"], verifier[:-1] + ("A" if verifier[-1] != "A" else "B")
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # An unknown redirect URI is never redirected to.
    bad = client.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": "app-12333",
            "redirect_uri": "https://evil.example/cb",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        follow_redirects=False,
    )
    assert bad.status_code == 400 and "location" not in bad.headers
    # No implicit grant, no password grant.
    implicit = client.get(
        "/oauth/authorize",
        params={"response_type": "token", "client_id": "app-12333", "redirect_uri": APP_REDIRECT},
        follow_redirects=False,
    )
    assert "error=unsupported_response_type" in implicit.headers.get("location", "")
    password = client.post("/oauth/token", data={"grant_type": "password", "username": "reviewer01", "password": "x"})
    assert password.status_code == 400 and password.json()["error"] == "unsupported_grant_type"


def test_client_credentials_for_a_kiosk(env: tuple[TestClient, Any, str]) -> None:
    client, _, _ = env
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("kiosk-01", KIOSK_SECRET))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and body["scope"] == "contribution:read person:read"
    me = client.get("/t/me", headers=_bearer(body["access_token"])).json()
    assert (me["kind"], me["client"], me["channel"], me["account"]) == ("client", "kiosk-01", "kiosk", "kiosk-01")
    r403 = client.get("/t/unit", headers=_bearer(body["access_token"]))
    # No unit:read. (The dependency raises 403; the shared problem+json handler decides the final status.)
    assert r403.status_code in (403, 422) and "访问令牌的授权范围不足" in r403.text
    narrowed = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "person:read",
            "client_id": "kiosk-01",
            "client_secret": KIOSK_SECRET,
        },
    )
    assert narrowed.json()["scope"] == "person:read"
    wider = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": "unit:read"}, auth=("kiosk-01", KIOSK_SECRET)
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("kiosk-01", "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    public = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "app-12333"})
    assert public.status_code in (400, 401) and public.json()["error"] in ("invalid_client", "unauthorized_client")


def test_refresh_tokens_rotate_and_reuse_revokes_the_grant(env: tuple[TestClient, Any, str], dbs: Databases) -> None:
    client, _, _ = env
    first = _tokens(client, dbs)

    def refresh(token: str) -> Any:
        return client.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "app-12333"}
        )

    second = refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    second_body = second.json()
    assert second_body["refresh_token"] != first["refresh_token"]
    assert client.get("/t/me", headers=_bearer(second_body["access_token"])).status_code == 200
    # The first refresh token again: reuse. The whole grant dies, the newest refresh token too.
    reuse = refresh(first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert refresh(second_body["refresh_token"]).json()["error"] == "invalid_grant"
    assert client.get("/t/me", headers=_bearer(second_body["access_token"])).status_code == 401
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute("select revoked_reason from hub.oauth_grant").fetchone()
    assert row == ("refresh token reuse",)
    introspected = client.post(
        "/oauth/introspect", data={"token": second_body["access_token"]}, auth=("resource-server", "rs-secret")
    )
    assert introspected.json() == {"active": False}


def test_revocation_and_introspection(env: tuple[TestClient, Any, str], dbs: Databases) -> None:
    client, _, reviewer = env
    tokens = _tokens(client, dbs)
    access = tokens["access_token"]
    info = client.post("/oauth/introspect", data={"token": access}, auth=("resource-server", "rs-secret")).json()
    assert info["active"] is True
    assert (info["sub"], info["client_id"], info["scope"], info["knd"]) == (
        reviewer,
        "app-12333",
        "person:read unit:read",
        "staff",
    )
    assert info["exp"] - info["iat"] == 300
    refresh_info = client.post(
        "/oauth/introspect", data={"token": tokens["refresh_token"]}, auth=("resource-server", "rs-secret")
    ).json()
    assert refresh_info["active"] is True and refresh_info["token_type"] == "refresh_token"
    # Another client may not introspect (and learns nothing) without token:introspect.
    kiosk = client.post("/oauth/introspect", data={"token": access}, auth=("kiosk-01", KIOSK_SECRET)).json()
    assert kiosk == {"active": False}
    # The app revokes its access token: at once refused by the resource side and by introspection.
    revoked = client.post("/oauth/revoke", data={"token": access, "client_id": "app-12333"})
    assert revoked.status_code == 200
    assert client.get("/t/me", headers=_bearer(access)).status_code == 401
    assert client.post("/oauth/introspect", data={"token": access}, auth=("resource-server", "rs-secret")).json() == {
        "active": False
    }
    # Revoking the refresh token ends the grant.
    client.post("/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": "app-12333"})
    again = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "app-12333"},
    )
    assert again.json()["error"] == "invalid_grant"


def test_access_token_expires_after_five_minutes(env: tuple[TestClient, Any, str]) -> None:
    client, clock, _ = env
    body = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("kiosk-01", KIOSK_SECRET)
    ).json()
    clock.advance(299)
    assert client.get("/t/me", headers=_bearer(body["access_token"])).status_code == 200
    clock.advance(1)  # iat + 300 = exp: expired
    expired = client.get("/t/me", headers=_bearer(body["access_token"]))
    assert expired.status_code == 401 and expired.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/t/me").status_code == 401
    assert client.get("/t/me", headers=_bearer("not-a-token")).status_code == 401


def test_jwks_rotation_old_tokens_verify_until_their_key_leaves(
    env: tuple[TestClient, Any, str], dbs: Databases
) -> None:
    client, clock, _ = env
    rt = client.app.state.identity  # type: ignore[attr-defined]

    def kiosk_token() -> str:
        response = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("kiosk-01", KIOSK_SECRET)
        )
        return str(response.json()["access_token"])

    old = kiosk_token()
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1 and "d" not in jwks["keys"][0]
    first_kid = jwks["keys"][0]["kid"]
    with pg.connect(dbs.hub_url) as conn:
        private = conn.execute("select private_jwk::text from hub.signing_key").fetchone()
        assert private is not None and '"d"' not in cast(str, private[0])  # sealed at rest
        keys.rotate(conn, rt.cfg.kek, clock.advance(10), keep=3)
        conn.commit()
    rt.signing_keys(refresh=True)
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 2 and jwks["keys"][1]["kid"] == first_kid
    new = kiosk_token()
    from joserfc import jws

    assert jws.extract_compact(new.encode()).headers()["kid"] != first_kid
    assert client.get("/t/me", headers=_bearer(old)).status_code == 200  # signed by the older key: still valid
    assert client.get("/t/me", headers=_bearer(new)).status_code == 200
    with pg.connect(dbs.hub_url) as conn:
        for _ in range(2):
            keys.rotate(conn, rt.cfg.kek, clock.advance(10), keep=3)
        conn.commit()
    rt.signing_keys(refresh=True)
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
    assert len(kids) == 3 and first_kid not in kids
    assert client.get("/t/me", headers=_bearer(old)).status_code == 401  # its key was retired


def test_discovery_document(env: tuple[TestClient, Any, str]) -> None:
    client, _, _ = env
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == "http://127.0.0.1:8000"
    assert doc["jwks_uri"] == "http://127.0.0.1:8000/.well-known/jwks.json"
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]


def test_openid_scope_adds_an_id_token(env: tuple[TestClient, Any, str], dbs: Databases) -> None:
    client, clock, reviewer = env
    verifier, challenge = pkce()
    login_staff(client, dbs)
    location = authorize(client, challenge, scope="openid person:read", nonce="n-0S6_WzA2Mj").headers["location"]
    body = exchange(client, code_from(location)["code"], verifier).json()
    assert body["scope"] == "openid person:read"
    from joserfc import jwt
    from joserfc.jwk import KeySet

    key_set = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    decoded = jwt.decode(body["id_token"], key_set, algorithms=["ES256"])
    claims = decoded.claims
    assert (claims["iss"], claims["sub"], claims["aud"], claims["nonce"]) == (
        "http://127.0.0.1:8000",
        reviewer,
        "app-12333",
        "n-0S6_WzA2Mj",
    )
    assert claims["exp"] - claims["iat"] == 300 and claims["iat"] == int(clock.now.timestamp())
    assert claims["amr"] == ["pwd", "sms"]
    # Without openid, no ID token.
    verifier2, challenge2 = pkce()
    location2 = authorize(client, challenge2).headers["location"]
    assert "id_token" not in exchange(client, code_from(location2)["code"], verifier2).json()

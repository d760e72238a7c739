"""A client's status of its own: disabling keeps its grant types and every token path refuses it (client
credentials, an authorization code issued before, its refresh token, introspection of its tokens, the
resource side through the revocation marker); enabling makes the same client work again. A client the
previous release disabled (grant types emptied) gets its channel's grant types back. ``hub demo``'s accounts
step run twice through the command line with the demo kiosk disabled in between: no error, still disabled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from core import seed as core_seed
from gateway.cli import app as cli
from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity import clients
from hub.identity.refusals import INSTALLER_ONLY, Refused
from tests.conftest import Databases
from tests.identity.idkit import T0
from tests.identity.oauthkit import (
    KIOSK_SECRET,
    PW,
    BrowserClient,
    authorize,
    code_from,
    exchange,
    hidden,
    make_app,
    pkce,
    seed_clients_and_staff,
)

CODE = "246810"
SECADMIN = Subject(
    SubjectKind.STAFF, "acc_secadmin", "portal-web", Channel.PORTAL, roles=frozenset({StaffRole.SECURITY_ADMIN})
)


@pytest.fixture
def env(dbs: Databases) -> Iterator[tuple[Any, BrowserClient]]:
    app, _ = make_app(dbs, test_fixed_sms_code=CODE)
    with BrowserClient(app) as client:
        seed_clients_and_staff(dbs, app.state.identity)
        yield app, client


def _login_staff(client: TestClient) -> None:
    """The reviewer's login pages (password, then the SMS code, fixed in this app)."""
    page = client.post("/auth/login", data={"kind": "staff", "login": "reviewer01", "password": PW, "next": ""})
    assert page.status_code == 200, page.text
    done = client.post(
        "/auth/login/verify",
        data={"ticket": hidden(page.text, "ticket"), "code": CODE, "next": ""},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def _row(dbs: Databases, client_id: str) -> tuple[str, list[str]]:
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute(
            "select status, grant_types from hub.oauth_client where client_id = %s", (client_id,)
        ).fetchone()
    assert row is not None
    return str(row[0]), sorted(cast(list[str], row[1]))  # grant_types: text[]


def _set_status(app: Any, dbs: Databases, client_id: str, active: bool) -> None:
    """What the security administrator's button does (portal_web/admin.py): the service, then the markers."""
    with pg.connect(dbs.hub_url) as conn:
        revoked = clients.set_client_status(conn, SECADMIN, client_id, active=active, now=T0)
        conn.commit()
    server = app.state.oauth_server
    for grant_id in revoked:
        server.mark_revoked("grant", grant_id)
    (server.clear_revoked if active else server.mark_revoked)("client", client_id)


def _kiosk_token(client: TestClient) -> Any:
    return client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("kiosk-01", KIOSK_SECRET))


def _refresh(client: TestClient, token: str) -> Any:
    return client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "app-12333"}
    )


def _introspect(client: TestClient, token: str) -> Any:
    return client.post("/oauth/introspect", data={"token": token}, auth=("resource-server", "rs-secret")).json()


def _read(client: TestClient, token: str) -> int:
    """The resource side (REST): 401 for a refused token, 404 for an accepted one (nobody's person 1)."""
    return client.get("/api/v1/persons/1/overview", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_disabled_client_keeps_its_grant_types_and_every_token_path_refuses_it(
    env: tuple[Any, BrowserClient], dbs: Databases
) -> None:
    app, client = env
    # Before: an app grant (access + refresh token), an unused authorization code, a kiosk token.
    verifier, challenge = pkce()
    _login_staff(client)
    tokens = exchange(client, code_from(authorize(client, challenge).headers["location"])["code"], verifier).json()
    pending_verifier, pending_challenge = pkce()
    pending_code = code_from(authorize(client, pending_challenge, state="p").headers["location"])["code"]
    kiosk = _kiosk_token(client)
    assert kiosk.status_code == 200
    kiosk_access = kiosk.json()["access_token"]
    assert _introspect(client, tokens["access_token"])["active"] is True
    assert _read(client, kiosk_access) == 404

    _set_status(app, dbs, "app-12333", False)
    _set_status(app, dbs, "kiosk-01", False)
    assert _row(dbs, "app-12333") == ("disabled", ["authorization_code", "refresh_token"])  # kept
    assert _row(dbs, "kiosk-01") == ("disabled", ["client_credentials"])
    with pg.connect(dbs.hub_url) as conn:
        assert clients.get(conn, "kiosk-01") is None and clients.status_of(conn, "kiosk-01") == "disabled"

    refused = _kiosk_token(client)  # client credentials
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    code = exchange(client, pending_code, pending_verifier)  # an authorization code issued before
    assert code.status_code in (400, 401) and code.json()["error"] == "invalid_client", code.text
    refreshed = _refresh(client, tokens["refresh_token"])
    assert refreshed.status_code in (400, 401) and refreshed.json()["error"] == "invalid_client", refreshed.text
    assert _introspect(client, tokens["access_token"]) == {"active": False}  # its tokens read as inactive
    assert _read(client, kiosk_access) == 401  # the revocation marker: refused before it expires
    new_code = authorize(client, pkce()[1], state="q")
    assert "code=" not in new_code.headers.get("location", "")  # no new authorization either

    _set_status(app, dbs, "kiosk-01", True)
    _set_status(app, dbs, "app-12333", True)
    assert _row(dbs, "kiosk-01") == ("active", ["client_credentials"])
    assert _row(dbs, "app-12333") == ("active", ["authorization_code", "refresh_token"])
    fresh = _kiosk_token(client)
    assert fresh.status_code == 200 and _read(client, fresh.json()["access_token"]) == 404
    again_verifier, again_challenge = pkce()
    again = exchange(
        client, code_from(authorize(client, again_challenge, state="r").headers["location"])["code"], again_verifier
    )
    assert again.status_code == 200 and _introspect(client, again.json()["access_token"])["active"] is True
    # The grant revoked by the disabling stays revoked: its refresh token does not come back.
    assert _refresh(client, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_client_the_previous_release_disabled_gets_its_channels_grant_types_back(
    env: tuple[Any, BrowserClient], dbs: Databases
) -> None:
    app, client = env
    with pg.connect(dbs.hub_url) as conn:
        clients.register(
            conn, client_id="portal-old", name="旧门户", channel=Channel.PORTAL,
            grant_types=[clients.AUTHORIZATION_CODE], scopes=["person:read"], redirect_uris=["https://x/cb"], now=T0,
        )  # fmt: skip
        # What 0021_admin_ops leaves of a client disabled before it: no grant types, status 'disabled'.
        conn.execute(
            "update hub.oauth_client set grant_types = '{}', status = 'disabled' "
            "where client_id in ('kiosk-01', 'portal-old')"
        )
        conn.commit()
    assert _kiosk_token(client).status_code == 401
    _set_status(app, dbs, "kiosk-01", True)
    assert _row(dbs, "kiosk-01") == ("active", ["client_credentials"])  # the kiosk channel's grant type
    assert _kiosk_token(client).status_code == 200
    # A portal client's grant types cannot be derived from its channel: the installer registers it again.
    with pg.connect(dbs.hub_url) as conn, pytest.raises(Refused) as refused:
        clients.set_client_status(conn, SECADMIN, "portal-old", active=True, now=T0)
    assert refused.value.reason == INSTALLER_ONLY and "安装程序" in refused.value.detail
    assert _row(dbs, "portal-old") == ("disabled", [])


def test_the_status_column_takes_only_its_two_values(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        clients.register(
            conn, client_id="kiosk-check", name="终端", channel=Channel.KIOSK,
            grant_types=[clients.CLIENT_CREDENTIALS], scopes=["person:read"], now=T0,
        )  # fmt: skip
        assert clients.status_of(conn, "kiosk-check") == "active"  # the default
        with pytest.raises(Exception, match="oauth_client_status"):
            conn.execute("update hub.oauth_client set status = 'paused' where client_id = 'kiosk-check'")


def test_hub_demo_twice_with_its_kiosk_disabled_in_between(dbs: Databases) -> None:
    core_seed.seed(dbs.core_url, persons=80, years=1)
    env = {
        "HUB_CORE_DB_URL": dbs.core_url,
        "HUB_HUB_DB_URL": dbs.hub_url,
        "HUB_QUERY_DB_URL": dbs.query_url,
        "HUB_REDIS_URL": dbs.redis_url,
        "HUB_ENVIRONMENT": "test",
        "COLUMNS": "400",
    }
    runner = CliRunner()
    first = runner.invoke(cli, ["auth", "demo-accounts"], env=env)  # the accounts step of `hub demo`
    assert first.exit_code == 0, first.output
    assert "kiosk-demo-01" in first.output and "已被停用" not in first.output
    with pg.connect(dbs.hub_url) as conn:
        clients.set_client_status(conn, SECADMIN, "kiosk-demo-01", active=False, now=T0)
        conn.commit()
        before = conn.execute("select client_id, status, grant_types from hub.oauth_client order by 1").fetchall()

    second = runner.invoke(cli, ["auth", "demo-accounts"], env=env)
    assert second.exit_code == 0, second.output  # was: 客户端已存在
    assert "客户端已存在" not in second.output
    kiosk_line = next(line for line in second.output.splitlines() if "kiosk-demo-01" in line)
    assert "已被停用" in kiosk_line  # listed as disabled, not silently re-enabled
    with pg.connect(dbs.hub_url) as conn:
        after = conn.execute("select client_id, status, grant_types from hub.oauth_client order by 1").fetchall()
        assert clients.get(conn, "kiosk-demo-01") is None
    assert after == before  # left as it was: still disabled, its grant types kept, nothing added
    assert ("kiosk-demo-01", "disabled", ["client_credentials"]) in after

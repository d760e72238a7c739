"""CSRF tokens on every login-page form, cookie flags, the CSP header, and HTML error pages under /auth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import pg
from hub.errors import ServiceUnavailable
from hub.http import problem
from hub.http.csrf import CsrfProtect
from hub.http.request_id import RequestIdMiddleware
from tests.conftest import Databases
from tests.identity.idkit import build_core, sent_messages
from tests.identity.oauthkit import PW, BrowserClient, hidden, make_app, seed_clients_and_staff

REFUSED = "页面已失效"


@pytest.fixture
def env(dbs: Databases) -> Iterator[tuple[BrowserClient, Any]]:
    app, clock = make_app(dbs)

    @app.get("/auth/t/boom")
    def boom() -> None:
        raise RuntimeError("unexpected failure with 110105198005170011 in it")

    with BrowserClient(app) as client:
        seed_clients_and_staff(dbs, app.state.identity)
        yield client, clock


def _counts(dbs: Databases) -> tuple[int, int, int]:
    """(audit records, login-failure rows, SMS messages): what a refused POST must leave untouched."""
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute(
            "select (select count(*) from hub.audit_log), (select count(*) from hub.login_failure), "
            "(select count(*) from hub.sms_message)"
        ).fetchone()
    assert row is not None
    return cast(int, row[0]), cast(int, row[1]), cast(int, row[2])  # count(): bigint


def _refused(r: Any) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert REFUSED in r.text and "刷新后重新填写提交" in r.text


WRONG_LOGIN = {"kind": "staff", "login": "reviewer01", "password": "Wrong@pass1", "next": ""}


def test_every_form_on_the_login_pages_carries_a_token(env: tuple[BrowserClient, Any]) -> None:
    client, _ = env
    for path in ("/auth/login", "/auth/login?kind=staff", "/auth/register", "/auth/reset", "/auth/unlock"):
        page = TestClient.get(client, path)
        forms = re.findall(r"<form .*?</form>", page.text, re.S)
        assert forms, path
        for form in forms:
            assert re.search(r'name="csrf_token" value="\d+\.[0-9a-f]{64}"', form), (path, form)


def test_a_post_without_or_with_a_wrong_token_is_refused_and_changes_nothing(
    env: tuple[BrowserClient, Any], dbs: Databases
) -> None:
    client, _ = env
    before = _counts(dbs)
    _refused(TestClient.post(client, "/auth/login", data=WRONG_LOGIN))  # no token at all
    _refused(client.post("/auth/login", data={**WRONG_LOGIN, "csrf_token": ""}))
    good = client.csrf_token()
    issued, mac = good.split(".")
    forged = f"{issued}.{'0' * 64}"
    _refused(client.post("/auth/login", data={**WRONG_LOGIN, "csrf_token": forged}))
    _refused(client.post("/auth/login", data={**WRONG_LOGIN, "csrf_token": f"{int(issued) + 1}.{mac}"}))
    # The right password with a forged token does not log in either.
    right = {**WRONG_LOGIN, "password": PW, "csrf_token": forged}
    _refused(client.post("/auth/login", data=right))
    assert _counts(dbs) == before  # no audit record, no failure counted, no SMS code sent
    # The same wrong password with a valid token is an ordinary failed login (counted, audited).
    assert client.post("/auth/login", data=WRONG_LOGIN).status_code == 401
    after = _counts(dbs)
    assert after[0] > before[0] and after[1] > before[1]


def test_a_token_is_bound_to_the_browser_that_got_it(env: tuple[BrowserClient, Any], dbs: Databases) -> None:
    """An attacker's own valid token does not work with the victim's cookie (nor without any cookie)."""
    client, _ = env
    attacker_token = client.csrf_token()
    victim = BrowserClient(client.app)
    victim.get("/auth/login")  # the victim has a CSRF cookie of its own
    core = build_core(dbs.core_url)
    zhang = core.persons["zhang"]
    form = {"document_type": "01", "document_number": zhang.id_number, "name": zhang.name}
    _refused(victim.post("/auth/register", data={**form, "csrf_token": attacker_token}))
    stranger = BrowserClient(client.app)  # no cookie at all
    _refused(stranger.post("/auth/register", data={**form, "csrf_token": attacker_token}))
    assert sent_messages_to(dbs, zhang.phone) == 0
    assert victim.post("/auth/register", data=form).status_code == 200  # its own token: accepted
    assert sent_messages_to(dbs, zhang.phone) == 1


def sent_messages_to(dbs: Databases, phone: str | None) -> int:
    with pg.connect(dbs.hub_url) as conn:
        return len(sent_messages(conn, phone))


def test_every_post_route_checks_the_token(env: tuple[BrowserClient, Any], dbs: Databases) -> None:
    client, _ = env
    before = _counts(dbs)
    for path in (
        "/auth/login",
        "/auth/login/verify",
        "/auth/logout",
        "/auth/register",
        "/auth/register/verify",
        "/auth/reset",
        "/auth/reset/verify",
        "/auth/unlock",
        "/auth/unlock/verify",
    ):
        _refused(client.post(path, data={"csrf_token": "1.x", "ticket": "t", "code": "123456", "login": "reviewer01"}))
    assert _counts(dbs) == before


def test_a_cross_site_origin_or_an_old_page_is_refused(env: tuple[BrowserClient, Any]) -> None:
    client, clock = env
    token = client.csrf_token()
    _refused(
        client.post(
            "/auth/login", data={**WRONG_LOGIN, "csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
    )
    _refused(
        client.post("/auth/login", data={**WRONG_LOGIN, "csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"})
    )
    same_site = client.post(
        "/auth/login", data={**WRONG_LOGIN, "csrf_token": token}, headers={"Origin": "http://testserver"}
    )
    assert same_site.status_code == 401  # accepted as a form post: just a wrong password
    # Behind a proxy the Host header may differ: the issuer's public origin is trusted as well.
    proxied = client.post(
        "/auth/login", data={**WRONG_LOGIN, "csrf_token": token}, headers={"Origin": "http://127.0.0.1:8000"}
    )
    assert proxied.status_code == 401
    clock.advance(4 * 3600 + 1)  # the page was left open longer than the token lives
    _refused(client.post("/auth/login", data={**WRONG_LOGIN, "csrf_token": token}))


def _set_cookies(response: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_cookies_are_secure_outside_development_and_pages_carry_a_csp(dbs: Databases) -> None:
    app, _ = make_app(dbs, cookie_secure=None)  # environment "test": Secure by default
    with BrowserClient(app, base_url="https://testserver") as client:
        seed_clients_and_staff(dbs, app.state.identity)
        page = client.get("/auth/login?kind=staff")
        cookie = _set_cookies(page)["__Host-hub_csrf"]
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Domain" not in cookie  # __Host-: host-only
        csp = page.headers["content-security-policy"]
        nonce = re.search(r'<style nonce="([^"]+)">', page.text)
        assert nonce and f"style-src 'nonce-{nonce.group(1)}'" in csp
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert "<script" not in page.text
        assert client.get("/auth/login").headers["content-security-policy"] != csp  # a fresh nonce each time
        step = client.post("/auth/login", data={"kind": "staff", "login": "reviewer01", "password": PW, "next": ""})
        assert step.status_code == 200, step.text
        with pg.connect(dbs.hub_url) as conn:
            from tests.identity.idkit import last_code
            from tests.identity.oauthkit import STAFF_PHONE

            code = last_code(conn, STAFF_PHONE)
        done = client.post(
            "/auth/login/verify", data={"ticket": hidden(step.text, "ticket"), "code": code}, follow_redirects=False
        )
        session = _set_cookies(done)["hub_session"]
        assert "; Secure" in session and "HttpOnly" in session and "SameSite=lax" in session
    dev, _ = make_app(dbs, cookie_secure=None)
    dev.state.identity.settings = dev.state.identity.settings.model_copy(update={"environment": "development"})
    with TestClient(dev) as plain:
        cookie = _set_cookies(plain.get("/auth/login"))["hub_csrf"]
        assert "Secure" not in cookie and "HttpOnly" in cookie


def test_errors_under_auth_are_chinese_html_pages_and_apis_keep_problem_json(
    env: tuple[BrowserClient, Any],
) -> None:
    client, _ = env
    missing = client.get("/auth/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "未找到" in missing.text and "content-security-policy" in missing.headers
    assert missing.headers["x-request-id"] in missing.text
    crash = client.get("/auth/t/boom")
    assert crash.status_code == 500 and crash.headers["content-type"].startswith("text/html")
    assert "系统内部错误" in crash.text and "110105" not in crash.text
    wrong_method = client.put("/auth/login")
    assert wrong_method.status_code == 405 and "不支持该请求方法" in wrong_method.text
    for path in ("/api/v1/no-such", "/oauth/no-such"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", path


def _bare_app() -> Starlette:
    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("a bug")

    async def busy(request: Request) -> JSONResponse:
        raise ServiceUnavailable("排队人数过多", retry_after=7)

    app = Starlette(
        routes=[
            Route("/portal/boom", boom),
            Route("/portal/busy", busy),
            Route("/api/busy", busy),
            Route("/portal/print/busy", busy),
        ]
    )
    app.add_middleware(problem.UnexpectedErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    problem.install(app)
    problem.serve_html_errors(app, "/portal")
    problem.serve_html_errors(
        app, "/portal/print", lambda conn, status, title, detail, rid: JSONResponse({"s": status}, status_code=status)
    )
    return app


def test_html_error_handling_is_reusable_by_prefix() -> None:
    with TestClient(_bare_app(), raise_server_exceptions=False) as client:
        crash = client.get("/portal/boom")
        assert crash.status_code == 500 and crash.headers["content-type"].startswith("text/html")
        assert "系统内部错误" in crash.text and "a bug" not in crash.text
        busy = client.get("/portal/busy")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "7" and "排队人数过多" in busy.text
        assert client.get("/portal/nothing").status_code == 404
        api = client.get("/api/busy")
        assert api.status_code == 503 and api.headers["content-type"] == "application/problem+json"
        assert client.get("/portal/print/busy").json() == {"s": 503}  # the longest prefix's renderer
    for bad in ("/api", "/graphql/", "/oauth", "auth"):
        with pytest.raises(ValueError, match="prefix"):
            problem.serve_html_errors(Starlette(), bad)


def test_the_csrf_helper_on_its_own() -> None:
    now = [1_000_000.0]
    csrf = CsrfProtect(b"k" * 32, secure=False, clock=lambda: now[0])
    with pytest.raises(ValueError):
        CsrfProtect(b"short", secure=True)

    async def page(request: Request) -> JSONResponse:
        response = JSONResponse({"token": csrf.token(request)})
        csrf.set_cookie(request, response)
        return response

    async def submit(request: Request) -> JSONResponse:
        form = await request.form()
        csrf.check(request, {k: str(v) for k, v in form.items()})
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/p", page), Route("/s", submit, methods=["POST"])])
    problem.install(app)
    with TestClient(app) as client:
        first = client.get("/p").json()["token"]
        again = client.get("/p")
        assert "set-cookie" not in again.headers  # the cookie id is kept, not replaced
        assert client.post("/s", data={"csrf_token": first}).json() == {"ok": True}
        now[0] += 4 * 3600 + 1
        expired = client.post("/s", data={"csrf_token": first})
        assert expired.status_code == 403 and expired.headers["content-type"] == "application/problem+json"

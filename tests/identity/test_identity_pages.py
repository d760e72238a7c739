"""Login pages and portal sessions: timeouts with a movable clock, identical lockout replies, captcha, registration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from gateway.identity import Authenticated
from hub import pg
from hub.identity import captcha_store
from hub.identity.errors import InvalidCaptcha
from tests.conftest import Databases
from tests.identity.idkit import build_core, last_code
from tests.identity.oauthkit import PW, BrowserClient, hidden, login_staff, make_app, seed_clients_and_staff


@pytest.fixture
def env(dbs: Databases) -> Iterator[tuple[TestClient, Any]]:
    app, clock = make_app(dbs, test_fixed_captcha="TEST")

    @app.get("/t/me")
    def me(subject: Authenticated) -> dict[str, Any]:
        return {"kind": subject.kind.value, "client": subject.client_id, "scopes": sorted(subject.scopes)}

    with BrowserClient(app) as client:
        seed_clients_and_staff(dbs, app.state.identity)
        yield client, clock


def test_session_idle_timeout_thirty_minutes(env: tuple[TestClient, Any], dbs: Databases) -> None:
    client, clock = env
    login_staff(client, dbs)
    cookie = client.cookies.get("hub_session")
    assert cookie
    assert client.get("/t/me").json() == {
        "kind": "staff",
        "client": "portal-web",
        "scopes": sorted(
            [
                "person:read",
                "contribution:read",
                "account:read",
                "benefit:read",
                "card:read",
                "statement:read",
                "unit:read",
            ]
        ),
    }
    clock.advance(29 * 60)
    assert client.get("/t/me").status_code == 200  # activity resets the idle timer
    clock.advance(29 * 60)
    assert client.get("/t/me").status_code == 200
    clock.advance(30 * 60)  # 30 minutes idle
    assert client.get("/t/me").status_code == 401


def test_session_absolute_lifetime_ten_hours(env: tuple[TestClient, Any], dbs: Databases) -> None:
    client, clock = env
    login_staff(client, dbs)
    for _ in range(29):  # 29 × 20 min = 9 h 40 min of steady use
        clock.advance(20 * 60)
        assert client.get("/t/me").status_code == 200
    clock.advance(20 * 60)  # 10 h after login
    assert client.get("/t/me").status_code == 401


def test_logout_ends_the_session(env: tuple[TestClient, Any], dbs: Databases) -> None:
    client, _ = env
    login_staff(client, dbs)
    cookie = client.cookies.get("hub_session")
    client.post("/auth/logout", follow_redirects=False)
    assert client.get("/t/me").status_code == 401
    client.cookies.set("hub_session", cookie or "")  # the old cookie replayed: the server forgot it
    assert client.get("/t/me").status_code == 401


def _error_text(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


def _without_per_response_values(html: str) -> str:
    """The page minus what differs on every response by design (the CSRF token, the CSP nonce)."""
    html = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def test_lockout_reply_is_identical_to_a_wrong_password(env: tuple[TestClient, Any]) -> None:
    client, _ = env

    def attempt(password: str) -> tuple[int, str, str]:
        r = client.post("/auth/login", data={"kind": "staff", "login": "reviewer01", "password": password, "next": ""})
        return r.status_code, _error_text(r.text), _without_per_response_values(r.text)

    replies = [attempt("Wrong@pass1") for _ in range(5)]
    assert {r[:2] for r in replies} == {(401, "<strong>账号或密码错误</strong>")}
    locked = attempt(PW)  # the right password during the lockout
    assert locked == replies[0]  # the whole page, byte for byte
    unknown = client.post("/auth/login", data={"kind": "staff", "login": "nobody", "password": PW, "next": ""})
    assert _without_per_response_values(unknown.text) == replies[0][2]


def test_unit_operator_login_needs_the_captcha(env: tuple[TestClient, Any], dbs: Databases) -> None:
    client, _ = env
    core_rows = build_core(dbs.core_url)
    from hub.identity import admin

    rt = client.app.state.identity  # type: ignore[attr-defined]
    with pg.connect(dbs.hub_url) as conn:
        admin.insert_unit_operator(conn, rt.cfg, 1, "jbr01", "经办人", "13800000031", PW, False, rt.clock(), "test")
        conn.commit()
    page = client.get("/auth/login?kind=unit_operator")
    assert 'src="data:image/png;base64,' in page.text and "图形验证码" in page.text
    form = {
        "kind": "unit_operator",
        "unit_code": core_rows.uscc,
        "login": "jbr01",
        "password": PW,
        "next": "",
        "captcha_id": hidden(page.text, "captcha_id"),
    }
    wrong = client.post("/auth/login", data={**form, "captcha": "ZZZZ"})
    assert wrong.status_code == 400 and "图形验证码错误或已失效" in wrong.text
    ok = client.post("/auth/login", data={**form, "captcha": "test"})  # the fixed test answer, any case
    assert ok.status_code == 200 and "138****0031" in ok.text
    with pg.connect(dbs.hub_url) as conn:
        code = last_code(conn, "13800000031")
    done = client.post(
        "/auth/login/verify",
        data={"ticket": hidden(ok.text, "ticket"), "code": code, "next": ""},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/auth/account"
    assert client.get("/t/me").json()["kind"] == "unit_operator"
    # By 单位编号 as well as by 统一社会信用代码.
    by_number = client.post("/auth/login", data={**form, "unit_code": "1", "captcha": "TEST"})
    assert by_number.status_code == 429  # found, but the 60 s resend cooldown of this phone applies


def test_captcha_answers_are_single_use(dbs: Databases) -> None:
    r = redis.Redis.from_url(dbs.redis_url)
    captcha_id, answer = captcha_store.new(r, "t:captcha:")
    assert captcha_store.image(answer)[:8] == b"\x89PNG\r\n\x1a\n"
    captcha_store.check(r, "t:captcha:", captcha_id, answer.lower())
    with pytest.raises(InvalidCaptcha):
        captcha_store.check(r, "t:captcha:", captcha_id, answer)
    r.close()


def test_registration_pages_then_login(env: tuple[TestClient, Any], dbs: Databases) -> None:
    client, clock = env
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    assert "个人注册" in client.get("/auth/register").text
    refused = client.post(
        "/auth/register", data={"document_type": "01", "document_number": zhang.id_number, "name": "张四"}
    )
    assert refused.status_code == 400 and "证件号码与姓名不匹配" in refused.text
    nophone = core_rows.persons["wang"]
    counter = client.post(
        "/auth/register", data={"document_type": "01", "document_number": nophone.id_number, "name": nophone.name}
    )
    assert "经办机构窗口或自助终端" in counter.text
    step1 = client.post(
        "/auth/register", data={"document_type": "01", "document_number": zhang.id_number, "name": "张三"}
    )
    assert step1.status_code == 200 and "139****5678" in step1.text
    with pg.connect(dbs.hub_url) as conn:
        code = last_code(conn, "13912345678")
    mismatch = client.post(
        "/auth/register/verify",
        data={
            "ticket": hidden(step1.text, "ticket"),
            "code": code,
            "password": "Zhang@2026a",
            "password2": "Zhang@2026b",
        },
    )
    assert "两次输入的密码不一致" in mismatch.text
    done = client.post(
        "/auth/register/verify",
        data={
            "ticket": hidden(step1.text, "ticket"),
            "code": code,
            "password": "Zhang@2026a",
            "password2": "Zhang@2026a",
        },
    )
    assert done.status_code == 200 and "注册成功" in done.text
    login_form = {
        "kind": "person",
        "document_type": "01",
        "login": zhang.id_number,
        "password": "Zhang@2026a",
        "next": "/t/me",
    }
    early = client.post("/auth/login", data=login_form)
    assert (
        early.status_code == 429 and "验证码发送过于频繁，请60秒后再试" in early.text
    )  # the registration code was 0 s ago
    clock.advance(60)
    page = client.post("/auth/login", data=login_form)
    assert page.status_code == 200 and "139****5678" in page.text
    with pg.connect(dbs.hub_url) as conn:
        code = last_code(conn, "13912345678")
    done = client.post(
        "/auth/login/verify", data={"ticket": hidden(page.text, "ticket"), "code": code, "next": "/t/me"}
    )
    assert done.status_code == 200 and done.json()["kind"] == "person"  # followed the redirect to next


def test_password_older_than_180_days_gets_a_reminder(env: tuple[TestClient, Any], dbs: Databases) -> None:
    client, clock = env
    with pg.connect(dbs.hub_url) as conn:
        conn.execute(
            "update hub.account set password_changed_at = %s where login = 'reviewer01'",
            (clock.now - timedelta(days=180),),
        )
        conn.commit()
    page = client.post("/auth/login", data={"kind": "staff", "login": "reviewer01", "password": PW, "next": "/t/me"})
    with pg.connect(dbs.hub_url) as conn:
        code = last_code(conn, "13800000021")
    done = client.post(
        "/auth/login/verify",
        data={"ticket": hidden(page.text, "ticket"), "code": code, "next": "/t/me"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/auth/password-reminder?next=%2Ft%2Fme"
    reminder = client.get(done.headers["location"])
    assert "您的密码已使用超过180天" in reminder.text and 'href="/t/me"' in reminder.text
    assert client.get("/t/me").status_code == 200  # a reminder, not a block

"""Changing the password while logged in (the service and the web page) and the forced change of
administrator-issued passwords: policy and history, the lockout, other sessions and grants ended, the
restricted session on every page kind, the OAuth refusal and the temporary password's expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from gateway.identity import Authenticated
from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity import accounts, admin, grants, login, password_change
from hub.identity.config import IdentityConfig
from hub.identity.errors import (
    InvalidCredentials,
    SamePassword,
    TemporaryPasswordExpired,
    WeakPassword,
    WrongCurrentPassword,
)
from hub.identity.passwords import hash_password, verify_password
from hub.messaging import sealed
from tests.conftest import Databases
from tests.identity.idkit import T0, MovableClock, build_core, config, connections
from tests.identity.oauthkit import PW, STAFF_PHONE, BrowserClient, hidden, make_app, seed_clients_and_staff

CODE = "135790"  # the apps' fixed SMS code (test_fixed_sms_code)
SYSADMIN = Subject(
    SubjectKind.STAFF, "acc_sysadmin", "portal-web", Channel.PORTAL, roles=frozenset({StaffRole.SYSTEM_ADMIN})
)


def _staff(hub: psycopg.Connection[Any], cfg: IdentityConfig, login_name: str = "clerk01") -> str:
    account_id = admin.bootstrap_staff(
        hub, cfg, login=login_name, display_name="经办员", phone="13800000051", password=PW,
        role=StaffRole.OPERATOR, region_codes=("430102",), now=T0,
    )  # fmt: skip
    hub.commit()
    return account_id


def _change(
    hub: psycopg.Connection[Any], cfg: IdentityConfig, account_id: str, current: str, new: str, **kw: Any
) -> Any:
    return password_change.change_password(
        hub, cfg, account_id=account_id, current=current, new=new, now=kw.pop("now", T0),
        source=kw.pop("source", "ip:1"), **kw,
    )  # fmt: skip


def _hash(hub: psycopg.Connection[Any], account_id: str) -> str:
    row = hub.execute("select password_hash from hub.account where id = %s", (account_id,)).fetchone()
    hub.commit()
    assert row is not None
    return str(row[0])


# The service -------------------------------------------------------------------------------------


def test_policy_length_classes_same_and_history_of_five(dbs: Databases) -> None:
    cfg = config()
    with connections(dbs) as (hub, _, _r):
        account_id = _staff(hub, cfg)
        with pytest.raises(WeakPassword) as short:
            _change(hub, cfg, account_id, PW, "Ab1!xyz")  # 7 characters, 4 classes
        assert short.value.detail == "密码长度至少8位"
        with pytest.raises(WeakPassword) as two_classes:
            _change(hub, cfg, account_id, PW, "abcdefgh1")  # lower case + digits: 2 classes
        assert two_classes.value.detail == "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类"
        with pytest.raises(SamePassword) as same:
            _change(hub, cfg, account_id, PW, PW)
        assert same.value.detail == "新密码不能与当前密码相同" and same.value.status == 400
        assert verify_password(_hash(hub, account_id), PW)  # nothing changed by the refusals

        # PW is password 0; five changes make 1 … 5 and leave the history (newest first) 5, 4, 3, 2, 1, 0.
        current = PW
        for i in range(1, 6):
            new = f"Change@{i}x"
            _change(hub, cfg, account_id, current, new)
            current = new
        # The last five are 5 (current), 4, 3, 2, 1: password 1 is the 5th newest, refused.
        with pytest.raises(WeakPassword) as reused:
            _change(hub, cfg, account_id, current, "Change@1x")
        assert reused.value.detail == "不能使用最近5次用过的密码"
        # Password 0 is the 6th newest: allowed again.
        _change(hub, cfg, account_id, current, PW)
        assert verify_password(_hash(hub, account_id), PW)


def test_wrong_current_password_counts_toward_the_login_lockout(dbs: Databases) -> None:
    cfg = config()  # 5 failures from one source lock it for 15 minutes
    core_rows = build_core(dbs.core_url)
    assert core_rows.unit_id == 1
    with connections(dbs) as (hub, core, _r):
        account_id = _staff(hub, cfg)
        # 4 wrong current passwords and 1 wrong login from the same source: 5 failures, the source locks.
        for n in range(4):
            with pytest.raises(WrongCurrentPassword):
                _change(hub, cfg, account_id, f"Wrong@pass{n}", "Fresh@2026a", source="ip:9.9.9.9")
        with pytest.raises(InvalidCredentials):
            login.check_password(
                hub, core, cfg, login.Credentials(SubjectKind.STAFF, "clerk01", "Wrong@pass9"),
                source="ip:9.9.9.9", now=T0,
            )  # fmt: skip
        # Locked: the right current password gets the wrong-password reply and changes nothing …
        with pytest.raises(WrongCurrentPassword) as locked:
            _change(hub, cfg, account_id, PW, "Fresh@2026a", source="ip:9.9.9.9", now=T0 + timedelta(minutes=14))
        assert locked.value.detail == "当前密码不正确"
        assert verify_password(_hash(hub, account_id), PW)
        # … and the right login password too (the same lock).
        with pytest.raises(InvalidCredentials):
            login.check_password(
                hub, core, cfg, login.Credentials(SubjectKind.STAFF, "clerk01", PW), source="ip:9.9.9.9",
                now=T0 + timedelta(minutes=14),
            )  # fmt: skip
        # 15 minutes after the 5th failure the lock has run out.
        _change(hub, cfg, account_id, PW, "Fresh@2026a", source="ip:9.9.9.9", now=T0 + timedelta(minutes=15))
        assert verify_password(_hash(hub, account_id), "Fresh@2026a")
        rows = hub.execute(
            "select action, result, purpose, coalesce(ip, '') from hub.audit_log where target_id = %s "
            "and action = 'auth.password_change' order by chain_id, seq",
            (account_id,),
        ).fetchall()
        assert [(a, r) for a, r, _, _ in rows] == [
            *[("auth.password_change", "failed")] * 4,
            ("auth.password_change", "locked"),
            ("auth.password_change", "ok"),
        ]
        assert rows[-1][2:] == ("self", "ip:9.9.9.9")
        every = hub.execute("select t::text from hub.audit_log t").fetchall()
        assert not any("Fresh@2026a" in r[0] or PW in r[0] for r in every)  # no password in any record
        hub.commit()


def test_temporary_password_expires_after_the_configured_days(dbs: Databases) -> None:
    cfg = config(temporary_password_days=2)
    with connections(dbs) as (hub, core, _r):
        account_id, temporary = admin.create_staff_account(
            hub, cfg, SYSADMIN, login="newbie01", display_name="新同事", phone="13800000052",
            region_codes=("430102",), now=T0,
        )  # fmt: skip
        hub.commit()
        account = accounts.get(hub, account_id)
        assert account is not None and account.password_must_change
        assert account.password_expires_at == T0 + timedelta(days=2)

        def first_factor(password: str, when: Any) -> accounts.Account:
            creds = login.Credentials(SubjectKind.STAFF, "newbie01", password)
            return login.check_password(hub, core, cfg, creds, source="ip:2", now=when)

        assert first_factor(temporary, T0 + timedelta(days=2, seconds=-1)).id == account_id
        with pytest.raises(TemporaryPasswordExpired) as expired:
            first_factor(temporary, T0 + timedelta(days=2))
        assert expired.value.detail == "管理员设置的临时密码已过期，请联系管理员重新设置密码"
        with pytest.raises(InvalidCredentials):  # a wrong password past the expiry: the usual reply, no oracle
            first_factor("Wrong@pass1", T0 + timedelta(days=2))

        # A session opened in time cannot change it after the expiry either.
        with pytest.raises(TemporaryPasswordExpired):
            _change(hub, cfg, account_id, temporary, "Mine@2026ab", now=T0 + timedelta(days=2))
        # Changed in time, the mark is gone and the new password has no expiry.
        changed = _change(hub, cfg, account_id, temporary, "Mine@2026ab", now=T0 + timedelta(days=1))
        assert changed.was_temporary
        account = accounts.get(hub, account_id)
        assert account is not None and not account.password_must_change and account.password_expires_at is None
        assert first_factor("Mine@2026ab", T0 + timedelta(days=30)).id == account_id
        records = hub.execute(
            "select result, purpose from hub.audit_log where action = 'auth.password_change' and target_id = %s "
            "order by chain_id, seq",
            (account_id,),
        ).fetchall()
        assert records == [("temporary_expired", "identity"), ("ok", "forced")]
        hub.commit()


def test_only_administrator_issued_passwords_are_temporary(dbs: Databases) -> None:
    cfg = config()  # 3 days
    build_core(dbs.core_url)
    with connections(dbs) as (hub, _core, _r):
        bootstrap = _staff(hub, cfg, "installer1")  # the installer typed their own password
        unit_admin = admin.create_unit_operator(
            hub, cfg, SYSADMIN, unit_id=1, login="admin1", display_name="单位管理员", phone="13800000053",
            password=PW, unit_admin=True, now=T0,
        )  # fmt: skip
        admin_subject = Subject(
            SubjectKind.UNIT_OPERATOR, unit_admin, "portal-web", Channel.PORTAL, unit_id=1, unit_admin=True
        )
        operator = admin.create_unit_operator(
            hub, cfg, admin_subject, unit_id=1, login="jbr02", display_name="经办人", phone="13800000054",
            password=PW, now=T0,
        )  # fmt: skip
        activated = admin.insert_unit_operator(
            hub, cfg, 1, "self01", "自己开通", "13800000055", PW, False, T0, "activation:code"
        )  # the unit's own activation: a password its operator chose
        hub.commit()
        marks = {
            a: (acc.password_must_change, acc.password_expires_at)
            for a in (bootstrap, unit_admin, operator, activated)
            if (acc := accounts.get(hub, a)) is not None
        }
        hub.commit()
    expires = T0 + timedelta(days=3)
    assert marks == {
        bootstrap: (False, None),
        unit_admin: (True, expires),
        operator: (True, expires),
        activated: (False, None),
    }


# The web pages -----------------------------------------------------------------------------------


@pytest.fixture
def web(dbs: Databases) -> Iterator[tuple[TestClient, Any, MovableClock]]:
    app, clock = make_app(dbs, test_fixed_captcha="TEST", test_fixed_sms_code=CODE)

    @app.get("/t/me")
    def me(subject: Authenticated) -> dict[str, Any]:
        return {"account": subject.account_id}

    with BrowserClient(app, raise_server_exceptions=False) as client:
        seed_clients_and_staff(dbs, app.state.identity)
        yield client, app, clock


def _log_in(
    client: TestClient, clock: MovableClock, kind: str, login_name: str, password: str, next_path: str, **extra: str
) -> Any:
    """Both login steps (fixed captcha and SMS code); the answer of the second (a redirect)."""
    clock.advance(61)  # past the SMS resend cooldown of the previous login to the same phone
    form = client.get(f"/auth/login?kind={kind}")
    data = {"kind": kind, "login": login_name, "password": password, "captcha": "TEST", "next": next_path, **extra}
    if kind == "unit_operator":
        data["captcha_id"] = hidden(form.text, "captcha_id")
    started = client.post("/auth/login", data=data)
    assert started.status_code == 200, started.text
    return client.post(
        "/auth/login/verify",
        data={"ticket": hidden(started.text, "ticket"), "code": CODE, "next": next_path},
        follow_redirects=False,
    )


def _cookie(client: TestClient) -> str:
    value = client.cookies.get("hub_session")
    assert value
    return value


def _use(client: TestClient, session: str | None) -> TestClient:
    client.cookies.delete("hub_session")
    if session is not None:
        client.cookies.set("hub_session", session)
    return client


def test_change_page_keeps_this_session_and_ends_the_others(
    web: tuple[TestClient, Any, MovableClock], dbs: Databases
) -> None:
    client, app, clock = web
    assert _log_in(client, clock, "staff", "reviewer01", PW, "/t/me").headers["location"] == "/t/me"
    first = _cookie(client)
    _use(client, None)
    _log_in(client, clock, "staff", "reviewer01", PW, "/t/me")
    second = _cookie(client)
    with pg.connect(dbs.hub_url) as hub:
        account_id = str(hub.execute("select id from hub.account where login = 'reviewer01'").fetchone()[0])  # type: ignore[index]
        app_grant = grants.create_grant(
            hub, client_id="app-12333", account_id=account_id, scope="openid", auth_methods=("pwd", "sms"), now=T0
        )
        hub.commit()

    page = _use(client, first).get("/auth/password?next=%2Ft%2Fme")
    assert page.status_code == 200 and "当前密码" in page.text and "管理员设置" not in page.text
    assert 'name="next" value="/t/me"' in page.text

    # Field errors, nothing changed.
    wrong = client.post(
        "/auth/password", data={"current": "Wrong@pass1", "password": "New@2026ab", "password2": "New@2026ab"}
    )
    assert wrong.status_code == 400 and 'id="current-error" role="alert">当前密码不正确<' in wrong.text
    mismatch = client.post("/auth/password", data={"current": PW, "password": "New@2026ab", "password2": "New@2026ac"})
    assert mismatch.status_code == 422 and 'id="password2-error" role="alert">两次输入的新密码不一致<' in mismatch.text
    weak = client.post("/auth/password", data={"current": PW, "password": "newpassword", "password2": "newpassword"})
    assert weak.status_code == 422 and "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类" in weak.text
    forged = client.post(
        "/auth/password", data={"current": PW, "password": "New@2026ab", "password2": "New@2026ab", "csrf_token": "x"}
    )
    assert forged.status_code == 403
    with pg.connect(dbs.hub_url) as hub:
        assert verify_password(_hash(hub, account_id), PW)
    assert _notices(dbs) == []

    done = client.post(
        "/auth/password", data={"current": PW, "password": "New@2026ab", "password2": "New@2026ab", "next": "/t/me"}
    )
    assert done.status_code == 200 and "密码已修改" in done.text and 'href="/t/me"' in done.text
    assert _use(client, first).get("/t/me").json() == {"account": account_id}  # this session goes on
    assert _use(client, second).get("/t/me").status_code == 401  # the other one ended
    with pg.connect(dbs.hub_url) as hub:
        row = hub.execute("select revoked_reason from hub.oauth_grant where id = %s", (app_grant,)).fetchone()
        assert row == ("password changed",)
    notices = _notices(dbs)
    assert [n["recipient"] for n in notices] == [STAFF_PHONE]
    assert notices[0]["personalisation"]["content"].startswith("您的密码已修改（2026-03-02 ")
    rt = app.state.identity
    assert rt.redis.exists(f"{rt.cfg.settings.redis_prefix}revoked:grant:{app_grant}") == 1

    # The new password logs in; the old one no longer does.
    _use(client, None)
    assert _log_in(client, clock, "staff", "reviewer01", "New@2026ab", "/t/me").status_code == 303
    _use(client, None)
    old = client.post("/auth/login", data={"kind": "staff", "login": "reviewer01", "password": PW, "next": ""})
    assert old.status_code == 401


def _notices(dbs: Databases) -> list[dict[str, Any]]:
    """The password-change SMS notices in the outbox, number and text opened."""
    with pg.connect(dbs.hub_url) as hub:
        return sealed.messages(hub, "purpose = %s", ("password_changed",))


def test_reminder_page_links_to_the_change_page_when_logged_in(web: tuple[TestClient, Any, MovableClock]) -> None:
    client, _, clock = web
    anonymous = client.get("/auth/password-reminder?next=%2Ft%2Fme")
    assert 'href="/auth/reset"' in anonymous.text
    _log_in(client, clock, "staff", "reviewer01", PW, "/t/me")
    logged_in = client.get("/auth/password-reminder?next=%2Ft%2Fme")
    assert 'href="/auth/password?next=%2Ft%2Fme"' in logged_in.text and 'href="/auth/reset"' not in logged_in.text
    assert 'href="/auth/password"' in client.get("/auth/account").text


def _forced_accounts(dbs: Databases, app: Any) -> dict[str, tuple[str, str, dict[str, str]]]:
    """kind -> (account id, temporary password, extra login fields) for a person, a unit operator and staff,
    each with a password an administrator issued at T0."""
    rt = app.state.identity
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    with pg.connect(dbs.hub_url) as hub:
        staff_id, staff_pw = admin.create_staff_account(
            hub, rt.cfg, SYSADMIN, login="newbie01", display_name="新同事", phone="13800000061",
            region_codes=("430102",), now=T0,
        )  # fmt: skip
        unit_id = admin.create_unit_operator(
            hub, rt.cfg, SYSADMIN, unit_id=1, login="admin1", display_name="单位管理员", phone="13800000062",
            password="Unit@2026ab", unit_admin=True, now=T0,
        )  # fmt: skip
        person_id = accounts.insert(
            hub, kind=SubjectKind.PERSON, login=accounts.person_login(rt.cfg.hmac_key, "01", zhang.id_number),
            display_name=zhang.name, password_hash=hash_password("Person@2026a"), now=T0, phone=zhang.phone,
            person_id=zhang.person_id, region_codes=("430102",),
        )  # fmt: skip
        password_change.issue_temporary(hub, rt.cfg, person_id, T0)  # as an agency-side reset would
        hub.commit()
    return {
        "person": (person_id, "Person@2026a", {"document_type": "01", "login": zhang.id_number}),
        "unit_operator": (unit_id, "Unit@2026ab", {"unit_code": core_rows.uscc, "login": "admin1"}),
        "staff": (staff_id, staff_pw, {"login": "newbie01"}),
    }


HOMES = {"person": "/portal/me", "unit_operator": "/portal/unit", "staff": "/portal/staff"}


@pytest.mark.parametrize("kind", ["person", "unit_operator", "staff"])
def test_a_temporary_password_opens_only_the_change_page(
    web: tuple[TestClient, Any, MovableClock], dbs: Databases, kind: str
) -> None:
    client, app, clock = web
    account_id, temporary, fields = _forced_accounts(dbs, app)[kind]
    login_name = fields.pop("login")
    home = HOMES[kind]
    landed = _log_in(client, clock, kind, login_name, temporary, home, **fields)
    assert landed.status_code == 303 and landed.headers["location"] == f"/auth/password?next={home.replace('/', '%2F')}"

    # Every page kind sends the browser to the change page (and back afterwards) …
    for path in (home, f"{home}?x=1", "/auth/account", "/auth/pin", "/portal/admin", "/t/me"):
        held = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
        assert held.status_code == 303, (path, held.status_code)
        assert held.headers["location"].startswith("/auth/password?next="), path
    # … a program gets a problem, and no OAuth code is issued.
    api = client.get("/t/me", headers={"accept": "application/json"})
    assert api.status_code == 403 and api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["type"].endswith("/password-change-required") and api.json()["title"] == "请先修改密码"
    authorize = client.get(
        "/oauth/authorize",
        params={"response_type": "code", "client_id": "app-12333", "redirect_uri": "x", "code_challenge": "c"},
        follow_redirects=False,
    )
    assert authorize.status_code == 303 and authorize.headers["location"].startswith("/auth/password?next=%2Foauth")

    page = client.get(landed.headers["location"])
    assert page.status_code == 200 and "您的密码由管理员设置" in page.text and "2026-03-05 09:00" in page.text
    done = client.post(
        "/auth/password",
        data={"current": temporary, "password": "Mine@2026xy", "password2": "Mine@2026xy", "next": home},
    )
    assert done.status_code == 200 and f'href="{home}"' in done.text
    assert client.get("/t/me").json() == {"account": account_id}  # the same session, no longer restricted
    after = client.get(home, follow_redirects=False)
    assert not (after.status_code == 303 and after.headers["location"].startswith("/auth/password"))
    with pg.connect(dbs.hub_url) as hub:
        account = accounts.get(hub, account_id)
    assert account is not None and not account.password_must_change


def test_an_expired_temporary_password_is_refused_with_a_clear_message(
    web: tuple[TestClient, Any, MovableClock], dbs: Databases
) -> None:
    client, app, clock = web
    _, temporary, _ = _forced_accounts(dbs, app)["staff"]
    clock.now = T0 + timedelta(days=3)  # the default validity: 3 days from issue
    refused = client.post("/auth/login", data={"kind": "staff", "login": "newbie01", "password": temporary, "next": ""})
    assert (
        refused.status_code == 401 and "临时密码已过期" in refused.text and "请联系管理员重新设置密码" in refused.text
    )
    wrong = client.post(
        "/auth/login", data={"kind": "staff", "login": "newbie01", "password": "Wrong@pw12", "next": ""}
    )
    assert wrong.status_code == 401 and "账号或密码错误" in wrong.text and "临时密码" not in wrong.text


def test_no_token_for_an_account_that_must_change_its_password(
    web: tuple[TestClient, Any, MovableClock], dbs: Databases
) -> None:
    client, app, _ = web
    rt = app.state.identity
    with pg.connect(dbs.hub_url) as hub:
        account_id = str(hub.execute("select id from hub.account where login = 'reviewer01'").fetchone()[0])  # type: ignore[index]
        grant_id = grants.create_grant(
            hub, client_id="app-12333", account_id=account_id, scope="openid", auth_methods=("pwd", "sms"), now=T0
        )
        refresh = grants.issue_refresh_token(hub, rt.cfg.hmac_key, grant_id, 3600, T0)
        password_change.issue_temporary(hub, rt.cfg, account_id, T0)
        hub.commit()
    answer = client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "app-12333"}
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_grant" and body["error_description"].startswith("password_change_required")
    assert body["message"] == "您的密码由管理员设置，请先登录网上服务平台修改密码后再使用"
    assert "access_token" not in body

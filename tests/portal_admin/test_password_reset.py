"""重置密码 by the system administrator (/portal/admin/accounts/{id}/password) through the gateway app on real
databases: the confirmation, the temporary password shown once, the old password, sessions, OAuth grants and
lockout counters ended at once, the SMS notice to the owner's phone, the new password reaching only the change
page and running out after the configured days, and the refusals (their own account, an unknown account)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import pg
from hub.access.subject import StaffRole
from hub.identity import grants
from hub.identity.passwords import verify_password
from hub.messaging import sealed
from tests import dbkit
from tests.conftest import Databases
from tests.identity.idkit import T0
from tests.identity.oauthkit import PW
from tests.portal_admin import kit
from tests.portal_staff import kit as staff_kit

Env = tuple[Any, TestClient, dict[str, kit.Who]]
SHANGHAI_OFFSET = timedelta(hours=8)  # Asia/Shanghai has no daylight saving time
APP_CLIENT = "app-reset-test"


@pytest.fixture
def env(dbs: Databases) -> Iterator[Env]:
    app = kit.app_for(dbs)
    kit.register_app_client(dbs, APP_CLIENT, T0)
    with kit.client(app) as c:
        who = {
            "sys": kit.log_in_staff(c, app, dbs, StaffRole.SYSTEM_ADMIN, "系统管理员甲"),
            "sec": kit.log_in_staff(c, app, dbs, StaffRole.SECURITY_ADMIN, "安全管理员乙"),
        }
        yield app, c, who


def _state(dbs: Databases, account_id: str) -> tuple[str, bool, Any]:
    """(password hash, must change, expires at) of an account."""
    return dbkit.password_state(dbs.hub_url, account_id)


def _reset_notices(dbs: Databases) -> list[dict[str, Any]]:
    """The reset SMS notices in the outbox, number and text opened."""
    with pg.connect(dbs.hub_url) as conn:
        return sealed.messages(conn, "purpose = %s", ("password_reset",))


def _mentions(dbs: Databases, text: str) -> int:
    """How many audit records hold ``text`` anywhere in their columns."""
    return int(dbkit.one(dbs.hub_url, "select count(*) from hub.audit_log a where strpos(a::text, %s) > 0", (text,))[0])


def _refusals(dbs: Databases, actor: str) -> list[tuple[str, ...]]:
    return dbkit.audit(dbs.hub_url, "action, target_id, purpose", "actor = %s and result = 'refused'", (actor,))


def _session(c: TestClient, app: Any, login: str, password: str, label: str, account_id: str) -> kit.Who:
    """A fresh login of ``login`` (password, then the SMS code) in its own session."""
    kit.act_as(c, app, None)
    kit.tick(app)
    started = kit.start_login(c, login, password)
    assert started.status_code == 200, started.text
    assert kit.finish_login(c, started).status_code == 303
    return kit.Who(label, c.cookies.get(kit.session_cookie(app)) or "", account_id, login)


def _confirm(c: TestClient, account_id: str) -> Any:
    return kit.post(c, f"/portal/admin/accounts/{account_id}/password", confirm="yes")


def test_a_forgotten_password_is_reissued_and_everything_of_the_old_one_ends(env: Env, dbs: Databases) -> None:
    app, c, who = env
    rt = app.state.identity
    colleague = kit.staff(app, dbs, StaffRole.OPERATOR, "经办员丁")
    target = colleague["account_id"]
    # Two open sessions (two browsers), an app grant and a global lockout (20 failures) of the old password.
    browsers = [_session(c, app, colleague["login"], PW, f"b{i}", target) for i in (1, 2)]
    for b in browsers:
        assert kit.act_as(c, app, b).get("/portal/staff").status_code == 200
    with pg.connect(dbs.hub_url) as conn:
        grant = grants.create_grant(
            conn, client_id=APP_CLIENT, account_id=target, scope="openid", auth_methods=("pwd", "sms"), now=T0
        )
        conn.execute(
            "insert into hub.login_failure (account_id, source, failures, updated_at) values "
            "(%s, '*', 20, %s), (%s, 'ip:10.1.1.1', 5, %s)",
            (target, T0, target, T0),
        )
        conn.commit()
    old_hash = _state(dbs, target)[0]

    # The button asks first: the confirmation names the account and where the notice goes; nothing changes.
    kit.act_as(c, app, who["sys"])
    listing = c.get(f"/portal/admin/accounts?q={colleague['login']}")
    assert f'action="/portal/admin/accounts/{target}/password"' in listing.text
    assert f'action="/portal/admin/accounts/{who["sys"].account_id}/password"' not in listing.text  # not their own
    before = kit.snapshot(dbs)
    asked = kit.post(c, f"/portal/admin/accounts/{target}/password")
    assert asked.status_code == 200 and "确认重置密码" in asked.text and colleague["login"] in asked.text
    phone = colleague["phone"]
    assert f"{phone[:3]}****{phone[-4:]}" in asked.text and phone not in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert kit.snapshot(dbs) == before and _reset_notices(dbs) == []

    reset_at = rt.clock()
    done = _confirm(c, target)
    assert done.status_code == 200 and "临时密码只显示这一次" in done.text
    temporary = kit.secret_on(done.text)
    assert len(temporary) == 16
    # Valid for the configured 3 days from the reset, shown on the Shanghai clock.
    expires = reset_at + timedelta(days=3)
    assert f"<dt>有效期至</dt><dd>{(expires + SHANGHAI_OFFSET).strftime('%Y-%m-%d %H:%M')}</dd>" in done.text
    assert "3 天内有效" in done.text
    new_hash, must_change, expires_at = _state(dbs, target)
    assert new_hash != old_hash and verify_password(new_hash, temporary)
    assert must_change is True and expires_at == expires

    # The old password's grant is revoked (and marked for the resource side), the lockout counters are gone.
    with pg.connect(dbs.hub_url) as conn:
        revoked = conn.execute("select revoked_reason from hub.oauth_grant where id = %s", (grant,)).fetchone()
        failures = conn.execute("select count(*) from hub.login_failure where account_id = %s", (target,)).fetchone()
    assert revoked == ("password reset by administrator",) and failures == (0,)
    assert rt.redis.exists(f"{rt.cfg.settings.redis_prefix}revoked:grant:{grant}") == 1
    # Every open session of the account ended; the administrator's own goes on.
    for b in browsers:
        ended = kit.act_as(c, app, b).get("/portal/staff", follow_redirects=False)
        assert ended.status_code == 303 and ended.headers["location"].startswith("/auth/login"), b.label
    assert kit.act_as(c, app, who["sys"]).get("/portal/admin/accounts").status_code == 200

    # One SMS notice to the account's phone, without the password; the audit has the reset, not the password.
    notices = _reset_notices(dbs)
    assert [n["recipient"] for n in notices] == [phone]
    content = notices[0]["personalisation"]["content"]
    assert content.startswith(
        f"您的密码已由系统管理员重置（{(reset_at + SHANGHAI_OFFSET).strftime('%Y-%m-%d %H:%M')}）"
    )
    assert temporary not in content
    assert ("account.password_reset", who["sys"].account_id, "ok") in kit.audit_actions(dbs, target)
    assert _mentions(dbs, temporary) == 0

    # The old password no longer logs in; the temporary one opens only the change page.
    kit.act_as(c, app, None)
    kit.tick(app)
    assert kit.start_login(c, colleague["login"], PW).status_code == 401
    started = kit.start_login(c, colleague["login"], temporary)
    assert started.status_code == 200  # the lockout was cleared with the reset
    landed = kit.finish_login(c, started)
    assert landed.status_code == 303 and landed.headers["location"].startswith("/auth/password?next=")
    held = c.get("/portal/staff", follow_redirects=False)
    assert held.status_code == 303 and held.headers["location"].startswith("/auth/password")
    changed = c.post(
        "/auth/password",
        data={
            **kit.hidden(c.get("/auth/password").text),
            "current": temporary,
            "password": "Mine@2026cd",
            "password2": "Mine@2026cd",
        },
    )
    assert changed.status_code == 200 and "密码已修改" in changed.text
    assert c.get("/portal/staff").status_code == 200
    assert _state(dbs, target)[1:] == (False, None)


def test_a_temporary_password_that_ran_out_is_reissued(env: Env, dbs: Databases) -> None:
    app, c, who = env
    rt = app.state.identity
    kit.act_as(c, app, who["sys"])
    created = kit.post(
        c, "/portal/admin/accounts", login="latecomer01", display_name="迟到者", phone="13912340001", regions=kit.REGION
    )
    assert created.status_code == 200
    first = kit.secret_on(created.text)
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute("select id from hub.account where login = 'latecomer01'").fetchone()
    assert row is not None
    target = str(row[0])

    # Never used: three days later it is refused with the reason.
    rt.clock.advance(timedelta(days=3).total_seconds())
    kit.act_as(c, app, None)
    expired = kit.start_login(c, "latecomer01", first)
    assert expired.status_code == 401 and "临时密码已过期" in expired.text

    # A system administrator (a fresh session: the clock moved on) issues a new one.
    sysadmin = kit.log_in_staff(c, app, dbs, StaffRole.SYSTEM_ADMIN, "系统管理员戊")
    kit.act_as(c, app, sysadmin)
    reset_at = rt.clock()
    done = _confirm(c, target)
    assert done.status_code == 200
    second = kit.secret_on(done.text)
    assert second != first and _state(dbs, target)[2] == reset_at + timedelta(days=3)
    assert [n["recipient"] for n in _reset_notices(dbs)] == ["13912340001"]

    kit.act_as(c, app, None)
    kit.tick(app)
    assert kit.start_login(c, "latecomer01", first).status_code == 401  # the first one stays dead
    rt.clock.now = reset_at + timedelta(days=3, seconds=-1)  # the last second of its validity
    assert kit.start_login(c, "latecomer01", second).status_code == 200
    rt.clock.now = reset_at + timedelta(days=3)
    late = kit.start_login(c, "latecomer01", second)
    assert late.status_code == 401 and "临时密码已过期" in late.text


def test_their_own_account_is_refused_another_administrator_is_reset_and_audited(env: Env, dbs: Databases) -> None:
    app, c, who = env
    sys_id, sec_id = who["sys"].account_id, who["sec"].account_id
    assert sys_id is not None and sec_id is not None
    kit.act_as(c, app, who["sys"])
    own_hash = _state(dbs, sys_id)[0]
    for fields in ({}, {"confirm": "yes"}):  # refused at the confirmation step as well as when confirmed
        own = kit.post(c, f"/portal/admin/accounts/{sys_id}/password", **fields)
        assert own.status_code == 403 and "不能重置自己的密码" in own.text and "修改密码" in own.text
    assert _state(dbs, sys_id) == (own_hash, False, None)
    assert _refusals(dbs, sys_id) == [("account.password_reset", sys_id, "self")] * 2
    assert _reset_notices(dbs) == []

    # No such staff account (or a unit operator's id): the 404 page, nothing recorded as a reset.
    missing = _confirm(c, "acc_nobody")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    unit_operator = staff_kit.add_unit_operator(app, dbs.hub_url, 1)
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute("select id from hub.account where login = %s", (unit_operator["login"],)).fetchone()
    assert row is not None
    assert _confirm(c, str(row[0])).status_code == 404

    # The security administrator's password: allowed (accounts are the system administrator's job), named on
    # the confirmation, audited with the administrator role and notified.
    asked = kit.post(c, f"/portal/admin/accounts/{sec_id}/password")
    assert asked.status_code == 200 and "该账号担任安全管理员" in asked.text
    done = _confirm(c, sec_id)
    assert done.status_code == 200 and verify_password(_state(dbs, sec_id)[0], kit.secret_on(done.text))
    rows = dbkit.audit(
        dbs.hub_url, "actor, purpose, result", "action = 'account.password_reset' and target_id = %s", (sec_id,)
    )
    assert rows == [(sys_id, "admin:security_admin", "ok")]
    assert len(_reset_notices(dbs)) == 1
    ended = kit.act_as(c, app, who["sec"]).get("/portal/admin/roles", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/auth/login")
    assert re.fullmatch(r"[A-Za-z0-9@#%+=-]{16}", kit.secret_on(done.text))

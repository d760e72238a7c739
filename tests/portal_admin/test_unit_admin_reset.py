"""重置密码 of a unit's administrator by the system administrator at the agency counter (/portal/admin/unit-admins)
through the gateway app on real databases: the unit looked up by 统一社会信用代码 or 单位编号 (only units of the
agency's 统筹区; names and phones masked; lockout shown), the confirmation, the temporary password shown once, the
old password refused, sessions, grants and lockout counters ended at once, the SMS notice and one audit record;
an ordinary operator and another agency's unit answered as missing, bad codes refused in Chinese with nothing
written, every other role refused (and the attempt recorded), and CSRF on the form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import ids, pg
from hub.identity import admin, grants
from hub.identity.passwords import verify_password
from hub.messaging import sealed
from tests import dbkit
from tests.conftest import Databases
from tests.identity import idkit
from tests.identity.idkit import T0
from tests.identity.oauthkit import PW
from tests.portal_admin import kit

SHANGHAI_OFFSET = timedelta(hours=8)  # Asia/Shanghai has no daylight saving time
APP_CLIENT = "app-unit-reset-test"
PAGE = "/portal/admin/unit-admins"
OTHER_REGION = "430103"  # 长沙市天心区: another agency's 统筹区
OTHER_UNIT = 2


@dataclass
class Operator:
    account_id: str
    login: str
    phone: str
    unit_id: int


@dataclass
class Env:
    app: Any
    c: TestClient
    who: dict[str, kit.Who]
    uscc: str  # unit 1's, in the administrators' 统筹区 (kit.REGION)
    other_uscc: str  # unit 2's, in OTHER_REGION
    head: Operator  # unit 1's administrator, 欧阳明明
    clerk: Operator  # an ordinary operator of unit 1
    stranger: Operator  # unit 2's administrator
    actors: dict[str, tuple[str, str]]  # each caller as the audit log names them: (actor kind, actor)


def _operator(app: Any, dbs: Databases, unit_id: int, login: str, name: str, phone: str, unit_admin: bool) -> Operator:
    rt = app.state.identity
    with pg.connect(dbs.hub_url) as conn:
        account_id = admin.insert_unit_operator(
            conn, rt.cfg, unit_id, login, name, phone, PW, unit_admin, rt.clock(), "t"
        )
        conn.commit()
    return Operator(account_id, login, phone, unit_id)


@pytest.fixture
def env(dbs: Databases) -> Iterator[Env]:
    app = kit.app_for(dbs)
    core = idkit.build_core(dbs.core_url)  # unit 1 (芙蓉区教育局) in kit.REGION
    other_uscc = ids.make_uscc("12", OTHER_REGION, 87654321)
    with pg.connect(dbs.core_url) as conn:
        conn.execute("insert into core.ya_region (aaa027, name, province_code) values (%s, '长沙市天心区', '430000')",
                     (OTHER_REGION,))  # fmt: skip
        conn.execute(
            "insert into core.ae10 (aaz001, aae044, aaa027, address, phone, longitude, latitude, opening_hours) "
            "values (2, '天心区社会保险服务中心', %s, '长沙市天心区书院路1号', '0731-12333', 112.98, 28.11, '{}')",
            (OTHER_REGION,),
        )
        conn.execute(
            "insert into core.ab01 (aab001, uscc, aab004, aab019, funding, collection, aab034, aaa027, contact_name, "
            "contact_phone, address) values (%s, %s, '天心区卫生院', '30', '1', '1', 2, %s, '李明', '13700000001', "
            "'书院路1号')",
            (OTHER_UNIT, other_uscc, OTHER_REGION),
        )
        conn.commit()
    kit.register_app_client(dbs, APP_CLIENT, T0)
    head = _operator(app, dbs, core.unit_id, "head01", "欧阳明明", "13955550001", True)
    clerk = _operator(app, dbs, core.unit_id, "clerk01", "张小二", "13955550002", False)
    stranger = _operator(app, dbs, OTHER_UNIT, "head02", "李大", "13955550003", True)
    with kit.client(app) as c:
        who, actors = kit.every_caller(c, app, dbs)
        yield Env(app, c, who, core.uscc, other_uscc, head, clerk, stranger, actors)


def _reset_notices(dbs: Databases) -> list[dict[str, Any]]:
    with pg.connect(dbs.hub_url) as conn:
        return sealed.messages(conn, "purpose = %s", ("password_reset",))


def _resets(dbs: Databases, target: str) -> list[tuple[str, ...]]:
    """(actor kind, actor, target type, purpose, result) of every password-reset record about ``target``."""
    return dbkit.audit(
        dbs.hub_url, "actor_kind, actor, target_type, purpose, result",
        "action = 'account.password_reset' and target_id = %s", (target,),
    )  # fmt: skip


def _mentions(dbs: Databases, text: str) -> int:
    return int(dbkit.one(dbs.hub_url, "select count(*) from hub.audit_log a where strpos(a::text, %s) > 0", (text,))[0])


def _unit_login(c: TestClient, unit_code: str, login: str, password: str) -> Any:
    """The unit login's password step in a fresh browser: 200 asks for the SMS code, else the refusal page."""
    form = c.get("/auth/login?kind=unit_operator")
    return c.post(
        "/auth/login",
        data={**kit.hidden(form.text), "kind": "unit_operator", "unit_code": unit_code, "login": login,
              "password": password, "captcha": "TEST", "next": "/portal/unit"},
    )  # fmt: skip


def _finish(c: TestClient, started: Any) -> Any:
    return c.post(
        "/auth/login/verify",
        data={**kit.hidden(started.text), "code": kit.CODE, "next": "/portal/unit"},
        follow_redirects=False,
    )


def _unit_session(c: TestClient, app: Any, unit_code: str, op: Operator) -> kit.Who:
    kit.act_as(c, app, None)
    kit.tick(app)
    started = _unit_login(c, unit_code, op.login, PW)
    assert started.status_code == 200, started.text
    landed = _finish(c, started)
    assert landed.status_code == 303 and landed.headers["location"] == "/portal/unit", landed.text
    return kit.Who(op.login, c.cookies.get(kit.session_cookie(app)) or "", op.account_id, op.login)


def _alive(c: TestClient, app: Any, who: kit.Who) -> bool:
    """The session still opens the change page (every logged-in subject may; an ended one goes to the login)."""
    answer = kit.act_as(c, app, who).get("/auth/password", follow_redirects=False)
    return answer.status_code == 200


def test_a_unit_administrator_gets_a_temporary_password_at_the_counter(env: Env, dbs: Databases) -> None:
    app, c, sys = env.app, env.c, env.who["system_admin"]
    rt = app.state.identity
    head = env.head
    browser = _unit_session(c, app, env.uscc, head)
    assert _alive(c, app, browser)
    with pg.connect(dbs.hub_url) as conn:
        grant = grants.create_grant(
            conn, client_id=APP_CLIENT, account_id=head.account_id, scope="openid", auth_methods=("pwd", "sms"),
            now=T0,
        )  # fmt: skip
        conn.execute(  # locked everywhere by 20 failures (the owner's SMS unlock needs the lost phone)
            "insert into hub.login_failure (account_id, source, failures, updated_at) values (%s, '*', 20, %s)",
            (head.account_id, T0),
        )
        conn.commit()
    old_hash = dbkit.password_state(dbs.hub_url, head.account_id)[0]

    # The page is in the system administrator's menu; the unit found by its code typed loosely (lower case,
    # spaces) and by its 单位编号: the administrator, name and phone masked, locked; never the ordinary operator.
    kit.act_as(c, app, sys)
    empty = c.get(PAGE)
    assert empty.status_code == 200 and f'<a href="{PAGE}"' in empty.text and "单位管理员账号" in empty.text
    typed = " ".join(env.uscc[i : i + 6] for i in range(0, 18, 6)).lower()
    for code in (typed, "1"):
        found = c.get(PAGE, params={"code": code})
        assert found.status_code == 200, found.text
        text = found.text
        assert "芙蓉区教育局" in text and env.uscc in text and "head01" in text
        assert "欧*明" in text and "欧阳明明" not in text
        assert "139****0001" in text and "13955550001" not in text
        assert "<td>已锁定</td>" in text and "<td>正常</td>" in text
        assert f'action="{PAGE}/{head.account_id}/password"' in text
        assert "clerk01" not in text and env.clerk.account_id not in text
    lookups = dbkit.audit(dbs.hub_url, "actor, target_type, target_id, result", "action = 'unit.admin_lookup'")
    assert lookups == [(sys.account_id, "unit", env.uscc, "ok"), (sys.account_id, "unit", "1", "ok")]

    # The button asks first: unit, login, masked name and where the notice goes; nothing changes.
    before = kit.snapshot(dbs)
    asked = kit.post(c, f"{PAGE}/{head.account_id}/password")
    assert asked.status_code == 200 and "确认重置单位管理员密码" in asked.text
    assert "芙蓉区教育局" in asked.text and "head01" in asked.text and "欧*明" in asked.text
    assert "139****0001" in asked.text and "13955550001" not in asked.text and "欧阳明明" not in asked.text
    assert 'name="confirm" value="yes"' in asked.text and f'href="{PAGE}?code=1"' in asked.text
    assert kit.snapshot(dbs) == before and _reset_notices(dbs) == []

    reset_at = rt.clock()
    done = kit.post(c, f"{PAGE}/{head.account_id}/password", confirm="yes")
    assert done.status_code == 200 and "临时密码只显示这一次" in done.text
    temporary = kit.secret_on(done.text)
    assert re.fullmatch(r"[A-Za-z0-9@#%+=-]{16}", temporary)
    expires = reset_at + timedelta(days=3)  # HUB_AUTH__TEMPORARY_PASSWORD_DAYS defaults to 3
    assert f"<dt>有效期至</dt><dd>{(expires + SHANGHAI_OFFSET).strftime('%Y-%m-%d %H:%M')}</dd>" in done.text
    assert "<dt>登录名</dt><dd>head01</dd>" in done.text and "欧阳明明" not in done.text
    new_hash, must_change, expires_at = dbkit.password_state(dbs.hub_url, head.account_id)
    assert new_hash != old_hash and verify_password(new_hash, temporary)
    assert (must_change, expires_at) == (True, expires)

    # Grant revoked (and marked for the resource side), lockout cleared, the open session ended; the system
    # administrator's own session goes on.
    with pg.connect(dbs.hub_url) as conn:
        revoked = conn.execute("select revoked_reason from hub.oauth_grant where id = %s", (grant,)).fetchone()
        failures = conn.execute(
            "select count(*) from hub.login_failure where account_id = %s", (head.account_id,)
        ).fetchone()
    assert revoked == ("password reset by administrator",) and failures == (0,)
    assert rt.redis.exists(f"{rt.cfg.settings.redis_prefix}revoked:grant:{grant}") == 1
    assert not _alive(c, app, browser)
    assert kit.act_as(c, app, sys).get(PAGE).status_code == 200

    # One SMS notice to the administrator's phone, without the password; one audit record, without it too.
    notices = _reset_notices(dbs)
    assert [n["recipient"] for n in notices] == ["13955550001"]
    content = notices[0]["personalisation"]["content"]
    assert content.startswith(
        f"您的密码已由系统管理员重置（{(reset_at + SHANGHAI_OFFSET).strftime('%Y-%m-%d %H:%M')}）"
    )
    assert temporary not in content
    assert _resets(dbs, head.account_id) == [("staff", str(sys.account_id), "account", "admin:unit_admin", "ok")]
    assert _mentions(dbs, temporary) == 0

    # The old password is refused; the temporary one (the lockout is gone) opens only the change page.
    kit.act_as(c, app, None)
    kit.tick(app)
    assert _unit_login(c, env.uscc, "head01", PW).status_code == 401
    started = _unit_login(c, env.uscc, "head01", temporary)
    assert started.status_code == 200, started.text
    landed = _finish(c, started)
    assert landed.status_code == 303 and landed.headers["location"] == "/auth/password?next=%2Fportal%2Funit"
    held = c.get("/portal/unit", follow_redirects=False)
    assert held.status_code == 303 and held.headers["location"].startswith("/auth/password")
    # Three days later the unused temporary password is refused with the reason.
    rt.clock.now = expires
    kit.act_as(c, app, None)
    late = _unit_login(c, env.uscc, "head01", temporary)
    assert late.status_code == 401 and "临时密码已过期" in late.text


def test_an_ordinary_operator_and_another_agencys_unit_answer_as_missing(env: Env, dbs: Databases) -> None:
    app, c, sys = env.app, env.c, env.who["system_admin"]
    kit.act_as(c, app, sys)
    # Another agency's unit (by either code) answers exactly like a unit that does not exist.
    answers = [
        c.get(PAGE, params={"code": code})
        for code in (env.other_uscc, str(OTHER_UNIT), ids.make_uscc("11", kit.REGION, 11112222), "99")
    ]
    assert [a.status_code for a in answers] == [404] * 4
    for a in answers:
        assert "未找到该单位。请核对统一社会信用代码或单位编号" in a.text and 'aria-invalid="true"' in a.text
        assert "天心区卫生院" not in a.text and "head02" not in a.text and "<table>" not in a.text
    results = dbkit.audit(dbs.hub_url, "result", "action = 'unit.admin_lookup'")
    assert results == [("not_found",)] * 4

    # Resetting another agency's unit administrator, an ordinary operator, a staff account or nobody: 404, nothing
    # written (not even a refusal: they are not there for this administrator).
    before = kit.snapshot(dbs)
    targets = [env.stranger.account_id, env.clerk.account_id, str(env.who["operator"].account_id), "acc_nobody"]
    for target in targets:
        for fields in ({}, {"confirm": "yes"}):
            missing = kit.post(c, f"{PAGE}/{target}/password", **fields)
            assert missing.status_code == 404 and "该单位管理员账号不存在" in missing.text, (target, fields)
            assert "text/html" in missing.headers["content-type"]
    assert kit.snapshot(dbs) == before and _reset_notices(dbs) == []
    for target in targets[:3]:
        assert verify_password(dbkit.password_state(dbs.hub_url, target)[0], PW)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000AAAAAAAAAA", "统一社会信用代码校验位不正确"),
        ("9111000O123456789X", "统一社会信用代码含有非法字符或区划码不正确"),
        ("123456789012345678X", "请输入18位统一社会信用代码，或不超过17位数字的单位编号"),
        ("芙蓉区教育局", "请输入18位统一社会信用代码，或不超过17位数字的单位编号"),
        ("0", "请输入18位统一社会信用代码，或不超过17位数字的单位编号"),
        ("12-34", "请输入18位统一社会信用代码，或不超过17位数字的单位编号"),
    ],
)
def test_a_bad_unit_code_is_refused_in_chinese_and_nothing_is_written(
    env: Env, dbs: Databases, code: str, reason: str
) -> None:
    app, c = env.app, env.c
    kit.act_as(c, app, env.who["system_admin"])
    before = kit.snapshot(dbs)
    answer = c.get(PAGE, params={"code": code})
    assert answer.status_code == 422 and reason in answer.text and 'aria-invalid="true"' in answer.text
    assert kit.snapshot(dbs) == before


def test_the_check_characters_of_a_unit_code_are_checked(env: Env, dbs: Databases) -> None:
    """A hand-made wrong check character: the last character of unit 1's code changed by one in the alphabet."""
    app, c = env.app, env.c
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    wrong = env.uscc[:17] + alphabet[(alphabet.index(env.uscc[17]) + 1) % 31]
    kit.act_as(c, app, env.who["system_admin"])
    answer = c.get(PAGE, params={"code": wrong})
    assert answer.status_code == 422 and "统一社会信用代码校验位不正确" in answer.text
    assert c.get(PAGE, params={"code": env.uscc}).status_code == 200


def test_every_other_role_is_refused_and_the_attempt_recorded(env: Env, dbs: Databases) -> None:
    app, c, head = env.app, env.c, env.head
    before = kit.snapshot(dbs)
    attempts = [
        ("GET", f"{PAGE}?code=1", {}, ("unit.admin_lookup", "unit", "1")),
        ("GET", PAGE, {}, ("unit.admin_lookup", "unit", "*")),
        ("GET", f"{PAGE}?code=bad", {}, ("unit.admin_lookup", "unit", "BAD")),  # refused before the check
        ("POST", f"{PAGE}/{head.account_id}/password", {}, ("account.password_reset", "account", head.account_id)),
        ("POST", f"{PAGE}/{head.account_id}/password", {"confirm": "yes"},
         ("account.password_reset", "account", head.account_id)),
    ]  # fmt: skip
    refused = 0
    for label, caller in env.who.items():
        if label == "system_admin":
            continue
        for method, path, fields, (action, target_type, target_id) in attempts:
            seen = set(dbkit.rows(dbs.hub_url, "select chain_id, seq from hub.audit_log"))
            kit.act_as(c, app, caller)
            answer = kit.post(c, path, **fields) if method == "POST" else c.get(path)
            assert answer.status_code == 403 and "无权" in answer.text, (label, path, answer.text[:300])
            new = [
                r[2:]
                for r in dbkit.rows(
                    dbs.hub_url,
                    "select chain_id, seq, actor_kind, actor, action, target_type, target_id, purpose, result "
                    "from hub.audit_log",
                )
                if r[:2] not in seen
            ]
            expected = [(*env.actors[label], action, target_type, target_id, "role_required", "refused")]
            assert new == expected, (label, path, new)
            refused += 1
    assert refused == 6 * len(attempts)  # the 4 other staff roles, a unit operator and a person
    after = kit.snapshot(dbs)
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    assert after["audit"][0] == before["audit"][0] + refused
    assert verify_password(dbkit.password_state(dbs.hub_url, head.account_id)[0], PW)

    # Anonymous: to the staff login, nothing written.
    kit.act_as(c, app, None)
    answer = c.get(f"{PAGE}?code=1", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/login?kind=staff")
    answer = kit.post(c, f"{PAGE}/{head.account_id}/password", confirm="yes")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/login?kind=staff")
    assert kit.snapshot(dbs) == after


def test_the_reset_form_without_its_csrf_token_is_refused_and_writes_nothing(env: Env, dbs: Databases) -> None:
    app, c, head = env.app, env.c, env.head
    kit.act_as(c, app, env.who["system_admin"])
    before = kit.snapshot(dbs)
    for fields in ({}, {"confirm": "yes"}):
        for token in ({}, {"csrf_token": "1700000000.deadbeef"}):
            forged = c.post(f"{PAGE}/{head.account_id}/password", data={**fields, **token}, follow_redirects=False)
            assert forged.status_code == 403 and "页面已失效" in forged.text, forged.text[:300]
    assert kit.snapshot(dbs) == before
    assert verify_password(dbkit.password_state(dbs.hub_url, head.account_id)[0], PW)

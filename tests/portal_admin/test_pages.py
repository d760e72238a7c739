"""The administration pages doing their jobs through the gateway app on real databases: the system
administrator's accounts, the security administrator's roles and clients (with real OAuth tokens), the
auditor's query, export and chain verification, and CSRF on every form."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from gateway.api import anchor_key
from hub import ids, pg
from hub.access.subject import StaffRole
from hub.audit import sync_writer, verify_job
from hub.config.audit import AuditSettings
from hub.identity import admin
from tests import dbkit
from tests.conftest import Databases
from tests.identity.idkit import T0
from tests.identity.oauthkit import PW
from tests.portal_admin import kit

Env = tuple[Any, TestClient, dict[str, kit.Who]]


@pytest.fixture
def env(dbs: Databases) -> Iterator[Env]:
    app = kit.app_for(dbs)
    with kit.client(app) as c:
        who = {
            "sys": kit.log_in_staff(c, app, dbs, StaffRole.SYSTEM_ADMIN, "系统管理员甲"),
            "sec": kit.log_in_staff(c, app, dbs, StaffRole.SECURITY_ADMIN, "安全管理员乙"),
            "aud": kit.log_in_staff(c, app, dbs, StaffRole.AUDITOR, "审计管理员丙"),
        }
        yield app, c, who


def _account(dbs: Databases, login: str) -> tuple[str, str, list[str], bool]:
    """(id, status, roles, TOTP enrolled) of a staff login."""
    row = dbkit.one(
        dbs.hub_url,
        "select a.id, a.status, coalesce((select array_agg(role order by role) from hub.account_role r "
        "where r.account_id = a.id), '{}'), a.totp_secret is not null from hub.account a "
        "where a.kind = 'staff' and a.login = %s",
        (login,),
    )
    return str(row[0]), str(row[1]), list(row[2]), bool(row[3])


def _refusals(dbs: Databases, actor: str) -> list[tuple[str, ...]]:
    """(action, target, reason) of every refused attempt of ``actor``, in the order written."""
    return dbkit.audit(dbs.hub_url, "action, target_id, purpose", "actor = %s and result = 'refused'", (actor,))


def _run_verification(app: Any, dbs: Databases) -> None:
    """What `hub audit run` does: claim the queued job and walk it to the end (small batches, many steps)."""
    owner = verify_job.worker_id()
    settings = AuditSettings(verify_batch_rows=7)
    with pg.connect(dbs.hub_url) as conn:
        job_id = verify_job.claim(conn, owner, T0, timedelta(seconds=60))
        assert job_id is not None
        verify_job.run_job(conn, job_id, owner, anchor_key(app.state.settings), settings, threading.Event())


def _create(c: TestClient, login: str, **extra: str) -> Any:
    fields = {"login": login, "display_name": "新同事", "phone": "13912345678", "regions": "430102，430103"}
    return kit.post(c, "/portal/admin/accounts", **{**fields, **extra})


def test_the_system_administrator_creates_disables_and_resets(env: Env, dbs: Databases) -> None:
    app, c, who = env
    kit.act_as(c, app, who["sys"])
    listing = c.get(f"/portal/admin/accounts?q={who['sec'].login}")
    assert listing.status_code == 200 and who["sec"].login in listing.text and who["aud"].login not in listing.text

    created = _create(c, "newstaff01")
    assert created.status_code == 200 and "临时密码只显示这一次" in created.text
    # The page states the rule: changed at the first login, valid for HUB_AUTH__TEMPORARY_PASSWORD_DAYS (3).
    assert "本人首次登录时须先修改密码才能办理业务" in created.text and "临时密码 3 天内有效" in created.text
    password = kit.secret_on(created.text)
    account_id, status, roles, _ = _account(dbs, "newstaff01")
    assert (status, roles) == ("active", [])  # no roles: those come from the security administrator
    assert kit.audit_actions(dbs, account_id) == [("account.create", who["sys"].account_id, "ok")]
    shown = c.get("/portal/admin/accounts?q=newstaff")
    row = re.search(r"<td>newstaff01</td>.*?</tr>", shown.text, re.S)
    assert row and "<td>139****5678</td>" in row.group(0) and "13912345678" not in shown.text  # phone masked
    assert "（未授权）" in row.group(0) and "<td>430102、430103</td>" in row.group(0)
    with pg.connect(dbs.hub_url) as conn:
        regions = conn.execute("select region_codes from hub.account where id = %s", (account_id,)).fetchone()
    assert regions is not None and regions[0] == ["430102", "430103"]

    # Bad fields and a taken login: the form again with the reason, nothing written.
    before = kit.snapshot(dbs)
    for fields, message in (
        ({"phone": "12345"}, "请填写正确的11位手机号码"),
        ({"regions": "43010"}, "请填写统筹区编码"),
        ({"login": "9abc"}, "工号须以字母开头"),
    ):
        bad = _create(c, fields.pop("login", "newstaff02"), **fields)
        assert bad.status_code == 422 and message in bad.text, bad.text
    taken = _create(c, "newstaff01")
    assert taken.status_code == 422 and "该工号已被使用" in taken.text
    assert kit.snapshot(dbs) == before

    # The new colleague logs in with the temporary password (password, then the SMS code).
    kit.act_as(c, app, None)
    started = kit.start_login(c, "newstaff01", password)
    assert started.status_code == 200 and "短信验证码" in started.text
    finished = kit.finish_login(c, started)  # a temporary password: only the change page is open
    assert finished.status_code == 303 and finished.headers["location"].startswith("/auth/password?next=")
    newcomer = kit.Who("newcomer", c.cookies.get(kit.session_cookie(app)) or "", account_id, "newstaff01")
    held = kit.act_as(c, app, newcomer).get("/portal/admin", follow_redirects=False)
    assert held.status_code == 303 and held.headers["location"] == "/auth/password?next=%2Fportal%2Fadmin"

    # Disabled: the open session ends at once and the password no longer logs in.
    kit.act_as(c, app, who["sys"])
    assert kit.post(c, f"/portal/admin/accounts/{account_id}/disable").headers["location"].endswith("msg=disabled")
    assert _account(dbs, "newstaff01")[1] == "disabled"
    ended = kit.act_as(c, app, newcomer).get("/portal/admin", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/auth/login?kind=staff")
    kit.act_as(c, app, None)
    assert kit.start_login(c, "newstaff01", password).status_code == 401
    kit.act_as(c, app, who["sys"])
    assert kit.post(c, f"/portal/admin/accounts/{account_id}/enable").status_code == 303
    kit.act_as(c, app, None)
    kit.tick(app)
    assert kit.start_login(c, "newstaff01", password).status_code == 200

    # A lost authenticator: after the reset the login asks for an SMS code instead of the TOTP.
    with pg.connect(dbs.hub_url) as conn:
        admin.enroll_totp(conn, app.state.identity.cfg, account_id)
        conn.commit()
    assert "动态口令" in kit.start_login(c, "newstaff01", password).text
    kit.act_as(c, app, who["sys"])
    assert "重置动态口令" in c.get("/portal/admin/accounts?q=newstaff01").text
    reset = kit.post(c, f"/portal/admin/accounts/{account_id}/second-factor")
    assert reset.status_code == 303 and _account(dbs, "newstaff01")[3] is False
    kit.act_as(c, app, None)
    kit.tick(app)
    after = kit.start_login(c, "newstaff01", password)
    assert after.status_code == 200 and "短信验证码" in after.text and "请输入动态口令" not in after.text
    assert [a for a, _, _ in kit.audit_actions(dbs, account_id) if a.startswith("account.")] == [
        "account.create", "account.disable", "account.enable", "account.second_factor_reset",
    ]  # fmt: skip

    # Never their own account; no such account is a 404 page.
    kit.act_as(c, app, who["sys"])
    sys_id = who["sys"].account_id
    assert sys_id is not None
    own = kit.post(c, f"/portal/admin/accounts/{sys_id}/disable")
    assert own.status_code == 403 and "不能停用自己的账号" in own.text
    assert _refusals(dbs, sys_id) == [("account.disable", sys_id, "self")]
    assert _account(dbs, who["sys"].login)[1] == "active"
    missing = kit.post(c, "/portal/admin/accounts/acc_nobody/second-factor")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_the_security_administrator_grants_roles_never_to_themself(env: Env, dbs: Databases) -> None:
    app, c, who = env
    colleague = kit.staff(app, dbs, StaffRole.OPERATOR, "经办员丁")
    kit.act_as(c, app, None)
    started = kit.start_login(c, colleague["login"], PW)
    assert kit.finish_login(c, started).status_code == 303
    colleague_session = kit.Who("colleague", c.cookies.get(kit.session_cookie(app)) or "", colleague["account_id"], "")

    kit.act_as(c, app, who["sec"])
    page = c.get("/portal/admin/roles")
    assert page.status_code == 200 and colleague["login"] in page.text
    granted = kit.post(c, f"/portal/admin/roles/{colleague['account_id']}/grant", role="reviewer")
    assert granted.status_code == 303 and granted.headers["location"].endswith("msg=granted")
    assert _account(dbs, colleague["login"])[2] == ["operator", "reviewer"]
    # The session opened before the change carries the old rights: it ends.
    ended = kit.act_as(c, app, colleague_session).get("/portal/admin", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/auth/login")

    kit.act_as(c, app, who["sec"])
    sec_id = who["sec"].account_id
    assert sec_id is not None
    before = kit.snapshot(dbs)
    self_grant = kit.post(c, f"/portal/admin/roles/{sec_id}/grant", role="reviewer")
    assert self_grant.status_code == 403 and "不能为自己授权" in self_grant.text
    # 三员分离: the system administrator cannot also be the auditor.
    second_admin_role = kit.post(c, f"/portal/admin/roles/{who['sys'].account_id}/grant", role="auditor")
    assert second_admin_role.status_code == 403 and "三员分离" in second_admin_role.text
    unknown_role = kit.post(c, f"/portal/admin/roles/{colleague['account_id']}/grant", role="superuser")
    assert unknown_role.status_code == 422 and "请选择角色" in unknown_role.text
    after = kit.snapshot(dbs)
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    # Both refusals by rule are in the chain (the unknown role is a bad form, not a refusal).
    assert after["audit"][0] == before["audit"][0] + 2
    assert _refusals(dbs, sec_id) == [
        ("role.grant", sec_id, "self"),
        ("role.grant", who["sys"].account_id, "separation"),
    ]

    revoked = kit.post(c, f"/portal/admin/roles/{colleague['account_id']}/revoke", role="operator")
    assert revoked.status_code == 303 and _account(dbs, colleague["login"])[2] == ["reviewer"]
    assert [(a, actor) for a, actor, _ in kit.audit_actions(dbs, colleague["account_id"]) if a.startswith("role.")][
        -2:
    ] == [("role.grant", who["sec"].account_id), ("role.revoke", who["sec"].account_id)]


def _token(c: TestClient, client_id: str, secret: str) -> Any:
    return c.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def test_a_client_is_registered_used_rotated_and_disabled(env: Env, dbs: Databases) -> None:
    app, c, who = env
    kit.act_as(c, app, who["sec"])
    form = {"client_id": "kiosk-furong-01", "name": "芙蓉区政务大厅1号自助终端", "channel": "kiosk"}
    too_wide = kit.post(c, "/portal/admin/clients", **form, scopes=["person:read", "unit:read"])
    assert too_wide.status_code == 422 and "所选范围超出该渠道允许的范围" in too_wide.text
    registered = kit.post(c, "/portal/admin/clients", **form, scopes=["person:read", "card:read"])
    assert registered.status_code == 200 and "密钥只显示这一次" in registered.text
    secret = kit.secret_on(registered.text)
    again = kit.post(c, "/portal/admin/clients", **form, scopes=["person:read"])
    assert again.status_code == 422 and "该客户端编号已被使用" in again.text

    kit.act_as(c, app, None)
    issued = _token(c, "kiosk-furong-01", secret)
    assert issued.status_code == 200 and issued.json()["scope"] == "card:read person:read"
    token = issued.json()["access_token"]
    seen = c.post("/oauth/introspect", data={"token": token}, auth=("kiosk-furong-01", secret)).json()
    assert seen["active"] is True and seen["cid"] == "kiosk-furong-01" and seen["chn"] == "kiosk"

    # A new secret: the old one stops at once.
    kit.act_as(c, app, who["sec"])
    rotated = kit.post(c, "/portal/admin/clients/kiosk-furong-01/rotate")
    assert rotated.status_code == 200 and "旧密钥已失效" in rotated.text
    new_secret = kit.secret_on(rotated.text)
    assert new_secret != secret
    kit.act_as(c, app, None)
    assert _token(c, "kiosk-furong-01", secret).status_code == 401
    assert _token(c, "kiosk-furong-01", new_secret).status_code == 200

    held = _token(c, "kiosk-furong-01", new_secret).json()["access_token"]
    held_read = c.get("/api/v1/persons/1/overview", headers={"Authorization": f"Bearer {held}"})
    assert held_read.status_code == 404  # authenticated (a client reads no person): not 401

    # Disabled: no token, and the client can no longer introspect or revoke either.
    kit.act_as(c, app, who["sec"])
    disabled = kit.post(c, "/portal/admin/clients/kiosk-furong-01/disable")
    assert disabled.status_code == 303 and disabled.headers["location"].endswith("msg=client-disabled")
    kit.act_as(c, app, None)
    refused = _token(c, "kiosk-furong-01", new_secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    introspect = c.post("/oauth/introspect", data={"token": token}, auth=("kiosk-furong-01", new_secret))
    assert introspect.status_code == 401
    # A token issued before the client was disabled stops at once too (no waiting for its 5 minutes).
    assert c.get("/api/v1/persons/1/overview", headers={"Authorization": f"Bearer {held}"}).status_code == 401
    kit.act_as(c, app, who["sec"])
    listing = c.get("/portal/admin/clients")
    row = re.search(r"<td>kiosk-furong-01</td>.*?</tr>", listing.text, re.S)
    assert row and "已停用" in row.group(0) and "/enable" in row.group(0)
    assert kit.post(c, "/portal/admin/clients/kiosk-furong-01/enable").status_code == 303
    kit.act_as(c, app, None)
    fresh = _token(c, "kiosk-furong-01", new_secret)
    assert fresh.status_code == 200
    fresh_read = c.get(
        "/api/v1/persons/1/overview", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"}
    )
    assert fresh_read.status_code == 404  # enabled again: its new tokens work
    assert [a for a, _, _ in kit.audit_actions(dbs, "kiosk-furong-01") if a.startswith("client.")] == [
        "client.register", "client.secret_rotate", "client.disable", "client.enable",
    ]  # fmt: skip

    # The app is a public client: no secret, a redirect address required.
    kit.act_as(c, app, who["sec"])
    app_form = {"client_id": "app-12333-hn", "name": "掌上12333", "channel": "app", "scopes": ["openid", "person:read"]}
    no_redirect = kit.post(c, "/portal/admin/clients", **app_form)
    assert no_redirect.status_code == 422 and "须填写回调地址" in no_redirect.text
    public = kit.post(c, "/portal/admin/clients", **app_form, redirect_uri="cn.gov.hrss.app12333:/oauth/callback")
    assert public.status_code == 200 and "没有密钥" in public.text and "<code>" not in public.text


def test_the_auditor_finds_exports_and_verifies(env: Env, dbs: Databases) -> None:
    app, c, who = env
    kit.act_as(c, app, who["sys"])
    assert _create(c, "audited01").status_code == 200
    account_id = _account(dbs, "audited01")[0]
    # A record whose subject is an ID number, and 55 of one action for the paging.
    number = ids.make_id_number("110105", T0.date().replace(year=1980), 17, "1")
    with pg.connect(dbs.hub_url) as conn:
        sync_writer.event(conn, "person.read", "ok", at=T0, actor_kind="staff", actor="acc_x", target_type="person",
                          target_id=number)  # fmt: skip
        for i in range(55):
            sync_writer.event(conn, "test.page", "ok", at=T0, actor_kind="system", actor="t", target_id=f"n{i:02d}")
        conn.commit()

    kit.act_as(c, app, who["aud"])
    found = c.get("/portal/admin/audit?action=account.create&since=2026-03-02&until=2026-03-02")
    assert found.status_code == 200
    row = re.search(rf"<td>account\.create</td>\s*<td>account：{account_id}</td>", found.text)
    assert row, found.text
    assert f"staff：{who['sys'].account_id}" in found.text
    # T0 is 2026-03-02 09:00 in Shanghai: a range starting the next day finds nothing.
    later = c.get("/portal/admin/audit?action=account.create&since=2026-03-03")
    assert account_id not in later.text and "没有符合条件的审计记录" in later.text
    prefix = c.get(f"/portal/admin/audit?action=account.&actor={who['sys'].account_id}")
    assert account_id in prefix.text

    masked = c.get("/portal/admin/audit?action=person.read")
    assert number not in masked.text and f"person：{number[:3]}{'*' * 11}{number[-4:]}" in masked.text

    first = c.get("/portal/admin/audit?action=test.page")
    assert first.text.count("<td>test.page</td>") == 50
    next_link = re.search(r'<a href="([^"]+)">下一页</a>', first.text)
    assert next_link
    second = c.get(next_link.group(1).replace("&amp;", "&"))
    assert second.text.count("<td>test.page</td>") == 5 and "下一页" not in second.text

    exported = c.get(f"/portal/admin/audit.csv?action=account.create&actor={who['sys'].account_id}")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["时间", "操作人类型", "操作人"] and len(lines) == 2
    assert lines[1][5] == "account.create" and lines[1][7] == account_id and lines[1][2] == who["sys"].account_id
    assert lines[1][0] == "2026-03-02 09:00:00"  # T0 (01:00 UTC) on the Shanghai clock

    # The auditor's own queries and export are in the chain too.
    with pg.connect(dbs.hub_url) as conn:
        own = cast(
            list[tuple[str, int]],  # a text column and count(*), a bigint
            conn.execute(
                "select action, count(*) from hub.audit_log where actor = %s group by 1 order by 1",
                (who["aud"].account_id,),
            ).fetchall(),
        )
    assert dict(own).get("audit.export") == 1 and dict(own).get("audit.query", 0) >= 6

    # The verification runs in the background: the page shows the queued job, then its result.
    assert "尚未发起过完整性校验" in c.get("/portal/admin/audit/verify").text
    started = kit.post(c, "/portal/admin/audit/verify")
    assert started.status_code == 303
    job_page = started.headers["location"]
    assert re.fullmatch(r"/portal/admin/audit/verify/\d+", job_page)
    queued = c.get(job_page)
    assert queued.status_code == 200 and "排队等待" in queued.text and 'http-equiv="refresh"' in queued.text
    assert kit.post(c, "/portal/admin/audit/verify").headers["location"] == job_page  # the same job again
    _run_verification(app, dbs)
    intact = c.get(job_page)
    assert intact.status_code == 200 and "审计日志完整" in intact.text and 'http-equiv="refresh"' not in intact.text
    assert "已完成" in intact.text and "重新校验" in intact.text
    with pg.connect(dbs.hub_url) as conn:  # tamper with one record behind the chain's back
        conn.execute("set session_replication_role = replica")  # a DBA bypassing the append-only triggers
        conn.execute("update hub.audit_log set result = 'refused' where target_id = %s", (account_id,))
        tampered = conn.execute(
            "select chain_id, seq from hub.audit_log where target_id = %s", (account_id,)
        ).fetchone()
        conn.commit()
    assert tampered is not None
    again = kit.post(c, "/portal/admin/audit/verify")
    assert again.headers["location"] != job_page  # the last one is done: a new job
    _run_verification(app, dbs)
    broken = c.get(again.headers["location"])
    assert broken.status_code == 200 and "审计日志校验失败" in broken.text and "记录被修改" in broken.text
    assert f"第一处断链：审计链 {tampered[0]} 第 {tampered[1]} 条，记录被修改" in broken.text
    latest = c.get("/portal/admin/audit/verify")
    assert f"第 {again.headers['location'].rsplit('/', 1)[1]} 号" in latest.text
    assert c.get("/portal/admin/audit/verify/999999").status_code == 404


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(env: Env, dbs: Databases) -> None:
    app, c, who = env
    target = kit.staff(app, dbs, StaffRole.OPERATOR)
    before = kit.snapshot(dbs)
    for caller, path, fields in (
        ("sys", "/portal/admin/accounts", {"login": "forged01", "display_name": "伪造", "phone": "13912345678",
                                            "regions": "430102"}),
        ("sys", f"/portal/admin/accounts/{target['account_id']}/disable", {}),
        ("sys", f"/portal/admin/accounts/{target['account_id']}/password", {"confirm": "yes"}),
        ("sec", f"/portal/admin/roles/{target['account_id']}/grant", {"role": "reviewer"}),
        ("sec", "/portal/admin/clients", {"client_id": "kiosk-forged", "name": "伪造", "channel": "kiosk",
                                           "scopes": "person:read"}),
        ("aud", "/portal/admin/audit/verify", {}),
    ):  # fmt: skip
        kit.act_as(c, app, who[caller])
        for token in ({}, {"csrf_token": "1700000000.deadbeef"}):
            forged = c.post(path, data={**fields, **token}, follow_redirects=False)
            assert forged.status_code == 403 and "页面已失效" in forged.text, (path, forged.text[:300])
    assert kit.snapshot(dbs) == before

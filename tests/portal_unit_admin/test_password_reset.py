"""重置密码 of a unit operator by the unit's administrator (/portal/unit/admin/operators/{id}/password): the
confirmation, the temporary password shown once, the old password, sessions and OAuth grants ended at once,
the SMS notice, the change page only and the expiry on a movable clock; refused (and recorded in the audit
chain) for their own account, another unit's operator and an ordinary operator."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from hub import pg
from hub.access.subject import Channel
from hub.identity import admin, clients, grants
from hub.identity.passwords import verify_password
from hub.messaging import sealed
from tests import dbkit
from tests.identity.idkit import T0
from tests.identity.oauthkit import PW
from tests.portal_unit_admin.conftest import Portal, csrf, hidden, new_phone

SHANGHAI_OFFSET = timedelta(hours=8)  # Asia/Shanghai has no daylight saving time


def _operator(portal: Portal, unit_id: int, *, unit_admin: bool = False) -> tuple[str, str, str]:
    """A new operator of ``unit_id`` with password PW: (account id, login, phone)."""
    rt = portal.app.state.identity
    login, phone = f"rs{uuid.uuid4().hex[:6]}", new_phone()
    with pg.connect(portal.province.hub_url) as conn:
        account_id = admin.insert_unit_operator(
            conn, rt.cfg, unit_id, login, "经办人", phone, PW, unit_admin, rt.clock(), "t"
        )
        conn.commit()
    return account_id, login, phone


def _state(portal: Portal, account_id: str) -> tuple[str, bool, Any]:
    return dbkit.password_state(portal.province.hub_url, account_id)


def _notices(portal: Portal, phone: str) -> list[str]:
    """The texts of the reset notices sent to ``phone`` (the province's outbox is shared by the tests)."""
    with pg.connect(portal.province.hub_url) as conn:
        found = sealed.messages(conn, "purpose = %s", ("password_reset",))
    return [str(m["personalisation"]["content"]) for m in found if m["recipient"] == phone]


def _audit(portal: Portal, target_id: str) -> list[tuple[str, ...]]:
    """(action, actor kind, actor, purpose, result) of every password-reset record about ``target_id``."""
    return dbkit.audit(
        portal.province.hub_url,
        "action, actor_kind, actor, purpose, result",
        "target_id = %s and action = 'account.password_reset'",
        (target_id,),
    )


def _use(portal: Portal, cookies: dict[str, str]) -> None:
    portal.client.cookies.clear()
    for name, value in cookies.items():
        portal.client.cookies.set(name, value)


def _first_step(portal: Portal, unit_id: int, login: str, password: str) -> Any:
    """The unit login's password step in a fresh browser: 200 asks for the SMS code, else the refusal page."""
    portal.client.cookies.clear()
    form = portal.client.get("/auth/login?kind=unit_operator")
    return portal.client.post(
        "/auth/login",
        data={**hidden(form.text), "kind": "unit_operator", "unit_code": str(unit_id), "login": login,
              "password": password, "captcha": "TEST", "next": "/portal/unit"},
    )  # fmt: skip


def _reset(portal: Portal, account_id: str, **fields: str) -> Any:
    token = csrf(portal.client, "/portal/unit/admin/operators")
    return portal.client.post(f"/portal/unit/admin/operators/{account_id}/password", data={**token, **fields})


def test_the_unit_administrator_reissues_an_operators_password(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client, unit_id, rt = portal.client, unit["unit_id"], portal.app.state.identity
    admin_cookies = dict(client.cookies.items())
    admin_id = _audit_actor(portal, unit_id, portal.current_login)
    clerk_id, clerk, phone = _operator(portal, unit_id)
    portal.login(unit_id, clerk)  # the clerk's own browser, logged in with the old password
    clerk_cookies = dict(client.cookies.items())
    with pg.connect(portal.province.hub_url) as conn:
        client_id = "app-" + uuid.uuid4().hex[:8]
        clients.register(
            conn, client_id=client_id, name="掌上12333", channel=Channel.APP,
            grant_types=[clients.AUTHORIZATION_CODE, clients.REFRESH_TOKEN], scopes=["openid"],
            redirect_uris=["cn.gov.hrss.app12333:/oauth/callback"], public=True, now=T0,
        )  # fmt: skip
        grant = grants.create_grant(
            conn, client_id=client_id, account_id=clerk_id, scope="openid", auth_methods=("pwd", "sms"), now=T0
        )
        conn.commit()
    old_hash = _state(portal, clerk_id)[0]

    _use(portal, admin_cookies)
    listing = client.get("/portal/unit/admin/operators")
    assert f'action="/portal/unit/admin/operators/{clerk_id}/password"' in listing.text
    # The confirmation names the operator and the masked phone; nothing changes yet.
    asked = _reset(portal, clerk_id)
    assert asked.status_code == 200 and "确认重置经办人密码" in asked.text and clerk in asked.text
    assert f"{phone[:3]}****{phone[-4:]}" in asked.text and phone not in asked.text
    assert _state(portal, clerk_id)[0] == old_hash and _notices(portal, phone) == [] and _audit(portal, clerk_id) == []

    reset_at = rt.clock()
    done = _reset(portal, clerk_id, confirm="yes")
    assert done.status_code == 200 and "临时密码只显示这一次" in done.text
    found = re.search(r"<dt>临时密码</dt><dd><code>([^<]+)</code></dd>", done.text)
    assert found
    temporary = found.group(1)
    expires = reset_at + timedelta(days=3)  # HUB_AUTH__TEMPORARY_PASSWORD_DAYS defaults to 3
    assert f"<dt>有效期至</dt><dd>{(expires + SHANGHAI_OFFSET).strftime('%Y-%m-%d %H:%M')}</dd>" in done.text
    new_hash, must_change, expires_at = _state(portal, clerk_id)
    assert verify_password(new_hash, temporary) and not verify_password(new_hash, PW)
    assert (must_change, expires_at) == (True, expires)
    with pg.connect(portal.province.hub_url) as conn:
        revoked = conn.execute("select revoked_reason from hub.oauth_grant where id = %s", (grant,)).fetchone()
    assert revoked == ("password reset by administrator",)
    assert _audit(portal, clerk_id) == [("account.password_reset", "unit_operator", admin_id, "unit_admin", "ok")]
    texts = _notices(portal, phone)
    assert len(texts) == 1 and temporary not in texts[0]
    assert texts[0].startswith(
        f"您的密码已由本单位管理员重置（{(reset_at + SHANGHAI_OFFSET).strftime('%Y-%m-%d %H:%M')}）"
    )

    # The clerk's open session ended; the administrator's goes on.
    _use(portal, clerk_cookies)
    ended = client.get("/portal/unit", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/auth/login")
    _use(portal, admin_cookies)
    assert client.get("/portal/unit/admin/operators").status_code == 200

    # The old password is refused; the temporary one opens only the change page, and runs out after 3 days.
    portal.clock.advance(61)  # past the SMS resend cooldown of the clerk's phone
    assert _first_step(portal, unit_id, clerk, PW).status_code == 401
    portal.login(unit_id, clerk, temporary, lands="/auth/password?next=%2Fportal%2Funit")
    held = client.get("/portal/unit", follow_redirects=False)
    assert held.status_code == 303 and held.headers["location"].startswith("/auth/password")
    portal.clock.now = reset_at + timedelta(days=3)
    late = _first_step(portal, unit_id, clerk, temporary)
    assert late.status_code == 401 and "临时密码已过期" in late.text


def _audit_actor(portal: Portal, unit_id: int, login: str) -> str:
    return str(
        dbkit.one(
            portal.province.hub_url,
            "select id from hub.account where kind = 'unit_operator' and unit_id = %s and login = %s",
            (unit_id, login),
        )[0]
    )


def _refusals(portal: Portal, actor: str) -> list[tuple[str, ...]]:
    return dbkit.audit(
        portal.province.hub_url, "action, actor_kind, target_id, purpose", "actor = %s and result = 'refused'", (actor,)
    )


def test_own_account_another_units_operator_and_an_ordinary_operator_are_refused(
    unit_admin: tuple[Portal, dict[str, Any]],
) -> None:
    portal, unit = unit_admin
    unit_id, other_unit = unit["unit_id"], portal.province.units[1]["unit_id"]
    me = _audit_actor(portal, unit_id, portal.current_login)
    my_hash = _state(portal, me)[0]

    own = _reset(portal, me, confirm="yes")
    assert own.status_code == 403 and "不能重置自己的密码" in own.text
    stranger_id, _, stranger_phone = _operator(portal, other_unit)
    stranger_hash = _state(portal, stranger_id)[0]
    for fields in ({}, {"confirm": "yes"}):
        cross = _reset(portal, stranger_id, **fields)
        assert cross.status_code == 403 and "只能重置本单位经办人的密码" in cross.text
    missing = _reset(portal, "acc_nobody", confirm="yes")
    assert missing.status_code == 404 and "该经办人账号不存在" in missing.text
    assert _state(portal, me)[0] == my_hash and _state(portal, stranger_id)[0] == stranger_hash
    assert _notices(portal, stranger_phone) == []
    assert _refusals(portal, me) == [
        ("account.password_reset", "unit_operator", me, "self"),
        ("account.password_reset", "unit_operator", stranger_id, "other_unit"),
        ("account.password_reset", "unit_operator", stranger_id, "other_unit"),
    ]

    # An ordinary operator of the same unit may not reset a colleague's password.
    colleague_id, _, colleague_phone = _operator(portal, unit_id)
    _, plain, _ = _operator(portal, unit_id)
    portal.login(unit_id, plain)
    plain_id = _audit_actor(portal, unit_id, plain)
    token = csrf(portal.client, "/portal/unit")
    refused = portal.client.post(
        f"/portal/unit/admin/operators/{colleague_id}/password", data={**token, "confirm": "yes"}
    )
    assert refused.status_code == 403 and "此功能仅供单位管理员使用" in refused.text
    assert verify_password(_state(portal, colleague_id)[0], PW) and _notices(portal, colleague_phone) == []
    assert _refusals(portal, plain_id) == [("account.password_reset", "unit_operator", colleague_id, "role_required")]

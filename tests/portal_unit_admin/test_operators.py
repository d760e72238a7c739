"""单位经办人子账号管理: the unit administrator lists, adds, disables and re-enables operators and hands
the administrator flag over; ordinary operators are refused; bad input gets inline Chinese errors."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest

from hub import pg
from hub.access.subject import Channel, SubjectKind
from hub.identity import accounts, subjects, unit_activation
from tests.identity.oauthkit import PW
from tests.portal_unit_admin.conftest import Portal, csrf, new_phone


def _accounts(portal: Portal, unit_id: int) -> dict[str, tuple[str, bool, str]]:
    """login -> (account id, unit_admin, status) of the unit's operators."""
    with pg.connect(portal.province.hub_url) as conn:
        rows = cast(
            list[tuple[str, str, bool, str]],  # login, id and status are text, unit_admin a boolean
            conn.execute(
                "select login, id, unit_admin, status from hub.account where kind = 'unit_operator' and unit_id = %s",
                (unit_id,),
            ).fetchall(),
        )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _me(portal: Portal, unit_id: int) -> str:
    assert _accounts(portal, unit_id)[portal.current_login][1] is True
    return portal.current_login


def test_admin_adds_disables_and_hands_over(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client, unit_id = portal.client, unit["unit_id"]
    me = _me(portal, unit_id)
    listing = client.get("/portal/unit/admin/operators")
    assert listing.status_code == 200 and me in listing.text and "单位管理员" in listing.text

    login = "clerk" + re.sub(r"\D", "", new_phone())[-6:]
    token = csrf(client, "/portal/unit/admin/operators")
    added = client.post(
        "/portal/unit/admin/operators",
        data={**token, "login": login, "display_name": "王五", "phone": new_phone(), "password": PW, "password2": PW},
        follow_redirects=False,
    )
    assert added.status_code == 303
    shown = client.get(added.headers["location"]).text
    assert login in shown and "首次登录时须修改密码，初始密码3天内有效" in shown
    new_id, is_admin, status = _accounts(portal, unit_id)[login]
    assert (is_admin, status) == (False, "active")

    disabled = client.post(f"/portal/unit/admin/operators/{new_id}/disable", data=token, follow_redirects=False)
    assert disabled.status_code == 303 and _accounts(portal, unit_id)[login][2] == "disabled"
    refused = client.post(f"/portal/unit/admin/operators/{new_id}/transfer", data=token)
    assert refused.status_code == 403 and "已停用" in refused.text  # no handover to a disabled account
    enabled = client.post(f"/portal/unit/admin/operators/{new_id}/enable", data=token, follow_redirects=False)
    assert enabled.status_code == 303 and _accounts(portal, unit_id)[login][2] == "active"

    my_id = _accounts(portal, unit_id)[me][0]
    self_disable = client.post(f"/portal/unit/admin/operators/{my_id}/disable", data=token)
    assert self_disable.status_code == 403 and "不能对自己的账号执行此操作" in self_disable.text
    assert _accounts(portal, unit_id)[me][2] == "active"

    handed = client.post(f"/portal/unit/admin/operators/{new_id}/transfer", data=token)
    assert handed.status_code == 200 and "单位管理员已移交" in handed.text
    after = _accounts(portal, unit_id)
    assert after[login][1] is True and after[me][1] is False
    # The old administrator's session still remembers the flag from its login: the hub DB decides.
    stale = client.get("/portal/unit/admin/operators")
    assert stale.status_code == 403 and "此功能仅供单位管理员使用" in stale.text

    # The administrator issued this operator's password: the first login opens only the change page.
    portal.login(unit_id, login, lands="/auth/password?next=%2Fportal%2Funit")
    held = client.get("/portal/unit/admin/operators", follow_redirects=False)
    assert held.status_code == 303 and held.headers["location"].startswith("/auth/password?next=")
    changed = client.post(
        "/auth/password",
        data={**csrf(client, "/auth/password"), "current": PW, "password": "Mine@2026ab", "password2": "Mine@2026ab"},
    )
    assert changed.status_code == 200 and "密码已修改" in changed.text
    assert me in client.get("/portal/unit/admin/operators").text  # the new administrator manages


def test_bad_input_is_shown_inline_and_creates_nothing(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client, unit_id = portal.client, unit["unit_id"]
    token = csrf(client, "/portal/unit/admin/operators")
    before = len(_accounts(portal, unit_id))
    base = {
        **token,
        "login": "clerk_ok1",
        "display_name": "赵六",
        "phone": new_phone(),
        "password": PW,
        "password2": PW,
    }
    cases = {
        "login": ({"login": "1a"}, "登录名须以字母开头"),
        "phone": ({"phone": "1234567"}, "请填写正确的11位手机号码"),
        "display_name": ({"display_name": " "}, "请填写经办人姓名"),
        "password": ({"password": "abc", "password2": "abc"}, "密码长度至少8位"),
        "password2": ({"password2": PW + "x"}, "两次输入的密码不一致"),
        "login ": ({"login": _me(portal, unit_id)}, "该登录名已被本单位其他经办人使用"),
    }
    for name, (change, message) in cases.items():
        r = client.post("/portal/unit/admin/operators", data={**base, **change})
        assert r.status_code == 422, name
        assert re.search(rf'id="e-{name.strip()}">[^<]*{message}', r.text), name
    assert len(_accounts(portal, unit_id)) == before


def test_ordinary_operator_is_refused(portal: Portal) -> None:
    unit_id = portal.province.units[0]["unit_id"]
    portal.login(unit_id, portal.add_operator(unit_id, unit_admin=False))
    client = portal.client
    before = len(_accounts(portal, unit_id))
    assert client.get("/portal/unit/admin/operators").status_code == 403
    token = csrf(client, "/portal/unit/admin/change")
    r = client.post(
        "/portal/unit/admin/operators",
        data={
            **token,
            "login": "sneaky1",
            "display_name": "某人",
            "phone": new_phone(),
            "password": PW,
            "password2": PW,
        },
    )
    assert r.status_code == 403 and "此功能仅供单位管理员使用" in r.text
    victim = next(iter(_accounts(portal, unit_id).values()))[0]
    assert client.post(f"/portal/unit/admin/operators/{victim}/disable", data=token).status_code == 403
    assert len(_accounts(portal, unit_id)) == before
    assert all(status == "active" for _, _, status in _accounts(portal, unit_id).values() if status)


def test_the_hub_db_not_the_session_decides_who_administers(portal: Portal) -> None:
    """A session that started before a handover carries the old flag; the service reads the account."""
    unit_id = portal.province.units[0]["unit_id"]
    rt = portal.app.state.identity
    old_login, new_login = (portal.add_operator(unit_id, unit_admin=flag) for flag in (True, False))
    with pg.connect(portal.province.hub_url) as conn:
        old, new = (
            accounts.find(conn, SubjectKind.UNIT_OPERATOR, lg, unit_id=unit_id) for lg in (old_login, new_login)
        )
        assert old is not None and new is not None
        as_old, as_new = (
            subjects.for_account(a, client_id="portal", channel=Channel.PORTAL, scopes=(), grant_id=None,
                                 auth_methods=("pwd", "sms"))
            for a in (old, new)
        )  # fmt: skip
        unit_activation.transfer_admin(conn, as_old, new.id, now=rt.clock())
        conn.commit()
        with pytest.raises(unit_activation.NotUnitAdministrator):
            unit_activation.list_operators(conn, as_old)  # the old session still says administrator
        assert as_new.unit_admin is False  # ... and the new administrator's says not
        added = unit_activation.add_operator(
            conn, rt.cfg, as_new, login="after_handover", display_name="孙七", phone=new_phone(), password=PW,
            now=rt.clock(),
        )  # fmt: skip
        conn.commit()
    assert _accounts(portal, unit_id)["after_handover"] == (added, False, "active")


def test_disabling_an_operator_ends_their_open_session(unit_admin: tuple[Portal, dict[str, Any]]) -> None:
    portal, unit = unit_admin
    client, unit_id = portal.client, unit["unit_id"]

    def use(cookies: dict[str, str]) -> None:
        client.cookies.clear()
        for name, value in cookies.items():
            client.cookies.set(name, value)

    admin_cookies = dict(client.cookies.items())
    clerk = portal.add_operator(unit_id, unit_admin=False)
    portal.login(unit_id, clerk)  # the clerk's own browser, logged in before being disabled
    clerk_cookies = dict(client.cookies.items())
    assert client.get("/portal/unit").status_code == 200
    use(admin_cookies)
    clerk_id = _accounts(portal, unit_id)[clerk][0]
    token = csrf(client, "/portal/unit/admin/operators")
    disabled = client.post(f"/portal/unit/admin/operators/{clerk_id}/disable", data=token, follow_redirects=False)
    assert disabled.status_code == 303
    use(clerk_cookies)
    page = client.get("/portal/unit", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/auth/login")  # the session ended
    use(admin_cookies)
    last = client.get("/portal/unit")
    assert last.status_code == 200, last.text[-800:]  # the administrator's own session is untouched

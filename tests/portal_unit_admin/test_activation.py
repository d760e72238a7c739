"""First login of a unit that exists in the core without an operator: the activation code goes by SMS to
the unit contact's phone on record (read back from hub.sms_message), or is issued at a counter by the
`hub unit issue-activation` command; the first operator becomes the administrator; codes are single use;
an unknown unit gets the same answer as a real one."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub import pg
from hub.identity import unit_activation
from tests.api.conftest import Province
from tests.identity.idkit import last_code
from tests.identity.oauthkit import PW, make_app
from tests.portal_unit_admin.conftest import hidden, new_phone


@pytest.fixture
def core_unit(province: Province) -> Iterator[Any]:
    """Make units in the core (copies of a seeded unit with their own number, USCC and contact phone)."""
    made: list[int] = []

    def make(contact_phone: str) -> int:
        unit_id = 49_000_000 + uuid.uuid4().int % 900_000
        uscc = ("91T" + uuid.uuid4().hex.upper())[:18]
        with pg.connect(province.core_url) as conn:
            conn.execute(
                "insert into core.ab01 (aab001, uscc, aab004, aab019, funding, collection, aab034, aaa027, aab051, "
                "contact_name, contact_phone, address, bank_name, bank_account) "
                "select %s, %s, '测试激活单位', aab019, funding, collection, aab034, aaa027, '1', '联系人', %s, "
                "address, bank_name, bank_account from core.ab01 where aab001 = %s",
                (unit_id, uscc, contact_phone, province.units[0]["unit_id"]),
            )
            conn.commit()
        made.append(unit_id)
        return unit_id

    yield make
    with pg.connect(province.core_url) as conn:
        conn.execute("delete from core.ab01 where aab001 = any(%s)", (made,))
        conn.commit()


@pytest.fixture
def visitor(province: Province) -> Iterator[TestClient]:
    """A browser on an app that sends real (random) SMS codes."""
    app, _ = make_app(province, test_fixed_captcha="TEST")
    with TestClient(app) as client:
        yield client


def _messages(province: Province) -> int:
    with pg.connect(province.hub_url) as conn:
        row = conn.execute("select count(*) from hub.sms_message").fetchone()
    return cast(int, row[0]) if row else 0  # count(*) is a bigint


def _visible(html: str) -> str:
    """The page without its per-request values (CSRF token, ticket, CSP nonce)."""
    html = re.sub(r'(name="(?:csrf_token|ticket)" value=")[^"]*"', r'\1"', html)
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def _ask(client: TestClient, unit_code: str) -> Any:
    form = client.get("/portal/activate")
    assert form.status_code == 200
    return client.post("/portal/activate", data={**hidden(form.text), "unit_code": unit_code})


def _admin(province: Province, unit_id: int) -> list[tuple[str, bool]]:
    with pg.connect(province.hub_url) as conn:
        rows = cast(
            list[tuple[str, bool]],  # a text and a boolean column
            conn.execute(
                "select login, unit_admin from hub.account where kind = 'unit_operator' and unit_id = %s", (unit_id,)
            ).fetchall(),
        )
    return [(r[0], r[1]) for r in rows]


def _login(client: TestClient, province: Province, unit_id: int, login: str, phone: str) -> None:
    form = client.get("/auth/login?kind=unit_operator")
    started = client.post(
        "/auth/login",
        data={**hidden(form.text), "kind": "unit_operator", "unit_code": str(unit_id), "login": login,
              "password": PW, "captcha": "TEST", "next": "/portal/unit"},
    )  # fmt: skip
    assert started.status_code == 200, started.text
    with pg.connect(province.hub_url) as conn:
        code = last_code(conn, phone)
    done = client.post(
        "/auth/login/verify", data={**hidden(started.text), "code": code, "next": "/portal/unit"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text


def test_sms_activation_end_to_end(province: Province, visitor: TestClient, core_unit: Any) -> None:
    contact = new_phone()
    unit_id = core_unit(contact)
    before = _messages(province)

    asked = _ask(visitor, str(unit_id))
    assert asked.status_code == 200 and "激活码已发送至单位在经办机构预留的联系人手机" in asked.text
    assert contact not in asked.text and contact[-4:] not in asked.text  # not even masked: no unit oracle
    with pg.connect(province.hub_url) as conn:
        code = last_code(conn, contact)  # the SMS went to the phone on record in the core
    assert _messages(province) == before + 1

    # No oracle: an unknown unit and a unit that already has operators get the very same page, no SMS.
    unknown = _ask(visitor, "99999999")
    active = _ask(visitor, str(province.units[0]["unit_id"]))
    assert _visible(unknown.text) == _visible(asked.text) == _visible(active.text)
    assert unknown.status_code == active.status_code == 200
    assert _messages(province) == before + 1
    dead = hidden(unknown.text)["ticket"]

    ticket = hidden(asked.text)["ticket"]
    admin_phone = new_phone()
    account = {"login": "hr_admin", "display_name": "张三", "phone": admin_phone, "password": PW, "password2": PW}
    csrf = {"csrf_token": hidden(asked.text)["csrf_token"]}

    weak = visitor.post("/portal/activate/verify", data={**csrf, **account, "ticket": ticket, "code": code,
                                                          "password": "abc", "password2": "abc"})  # fmt: skip
    assert weak.status_code == 422 and re.search(r'id="e-password">密码长度至少8位', weak.text)
    wrong = "0" * 6 if code != "000000" else "111111"
    bad = visitor.post("/portal/activate/verify", data={**csrf, **account, "ticket": ticket, "code": wrong})
    assert bad.status_code == 422 and "还可尝试4次" in bad.text
    guess = visitor.post("/portal/activate/verify", data={**csrf, **account, "ticket": dead, "code": code})
    assert guess.status_code == 422 and "验证码错误或已失效" in guess.text
    assert _admin(province, unit_id) == []  # nothing created by any of these

    done = visitor.post("/portal/activate/verify", data={**csrf, **account, "ticket": ticket, "code": code})
    assert done.status_code == 200 and "单位网上服务已开通" in done.text and str(unit_id) in done.text
    assert _admin(province, unit_id) == [("hr_admin", True)]
    replay = visitor.post(
        "/portal/activate/verify", data={**csrf, **account, "login": "hr_other", "ticket": ticket, "code": code}
    )
    assert replay.status_code == 422 and "验证码错误或已失效" in replay.text  # single use
    assert _admin(province, unit_id) == [("hr_admin", True)]

    # Activated: asking again sends nothing and answers as for any unit.
    again = _ask(visitor, str(unit_id))
    assert _visible(again.text) == _visible(asked.text)
    assert _messages(province) == before + 1

    # The new administrator logs in and manages the unit's operators.
    _login(visitor, province, unit_id, "hr_admin", admin_phone)
    page = visitor.get("/portal/unit/admin/operators")
    assert page.status_code == 200 and "hr_admin" in page.text and "单位管理员" in page.text


def test_counter_code_from_the_command_line(
    province: Province, visitor: TestClient, core_unit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit_id = core_unit("0731-88886666")  # a landline: no SMS possible, the counter code is the way
    before = _messages(province)
    asked = _ask(visitor, str(unit_id))
    assert asked.status_code == 200 and _messages(province) == before

    for name, url in (("CORE_DB_URL", province.core_url), ("HUB_DB_URL", province.hub_url),
                      ("QUERY_DB_URL", province.query_url), ("REDIS_URL", province.redis_url)):  # fmt: skip
        monkeypatch.setenv(f"HUB_{name}", url)
    monkeypatch.setenv("HUB_ENVIRONMENT", "test")
    issued = CliRunner().invoke(cli, ["unit", "issue-activation", str(unit_id), "--by", "counter01"])
    assert issued.exit_code == 0, issued.output
    found = re.search(r"激活码：([A-Z0-9]{12})", issued.output)
    assert found
    code = found.group(1)
    with pg.connect(province.hub_url) as conn:
        stored = cast(
            list[tuple[str]],  # code_hmac is a text column
            conn.execute("select code_hmac from hub.unit_activation_code where unit_id = %s", (unit_id,)).fetchall(),
        )
    assert len(stored) == 1 and code not in stored[0][0]  # kept only as an HMAC
    unknown_unit = CliRunner().invoke(cli, ["unit", "issue-activation", "99999999", "--by", "counter01"])
    assert unknown_unit.exit_code == 1 and "核心系统中没有该单位" in unknown_unit.output

    form = visitor.get("/portal/activate")
    csrf = {"csrf_token": hidden(form.text)["csrf_token"]}
    account = {"login": "desk_admin", "display_name": "柜台激活", "phone": new_phone(), "password": PW, "password2": PW}

    def post(unit_code: str, typed: str) -> Any:
        return visitor.post("/portal/activate/counter", data={**csrf, **account, "unit_code": unit_code, "code": typed})

    wrong = post(str(unit_id), "ABCDEFGHJKMN" if code != "ABCDEFGHJKMN" else "NMKJHGFEDCBA")
    other = post("99999999", code)
    assert wrong.status_code == other.status_code == 422
    assert "激活码错误或已失效" in wrong.text and "激活码错误或已失效" in other.text
    assert _admin(province, unit_id) == []

    done = post(str(unit_id), "-".join([code[:4], code[4:8], code[8:]]).lower())  # as typed from paper
    assert done.status_code == 200 and "单位网上服务已开通" in done.text
    assert _admin(province, unit_id) == [("desk_admin", True)]
    account["login"] = "desk_other"
    reused = post(str(unit_id), code)
    assert reused.status_code == 422 and "激活码错误或已失效" in reused.text
    assert _admin(province, unit_id) == [("desk_admin", True)]
    again = CliRunner().invoke(cli, ["unit", "issue-activation", str(unit_id), "--by", "counter01"])
    assert again.exit_code == 1 and "已有经办人账号" in again.output


def test_sending_is_throttled_alike_for_known_and_unknown_units(
    province: Province, visitor: TestClient, core_unit: Any
) -> None:
    unit_id = core_unit(new_phone())
    first_real, first_unknown = _ask(visitor, str(unit_id)), _ask(visitor, "88888888")
    assert first_real.status_code == first_unknown.status_code == 200
    again_real, again_unknown = _ask(visitor, str(unit_id)), _ask(visitor, "88888888")
    assert again_real.status_code == again_unknown.status_code == 429  # resend cooldown, either way
    assert "验证码发送过于频繁" in again_real.text
    assert _visible(again_real.text).replace(str(unit_id), "X") == _visible(again_unknown.text).replace("88888888", "X")


def test_counter_codes_have_a_check_budget_and_an_attempt_limit(
    province: Province, visitor: TestClient, core_unit: Any
) -> None:
    unit_id = core_unit("0731-88887777")
    rt = visitor.app.state.identity  # type: ignore[attr-defined]
    with pg.connect(province.hub_url) as conn, pg.connect(province.core_url) as core:
        issued = unit_activation.issue_counter_code(
            conn, core, rt.cfg, unit_code=str(unit_id), issued_by="t", now=rt.clock()
        )
        conn.commit()
    form = visitor.get("/portal/activate")
    account = {"csrf_token": hidden(form.text)["csrf_token"], "login": "desk_two", "display_name": "柜台",
               "phone": new_phone(), "password": PW, "password2": PW, "unit_code": str(unit_id)}  # fmt: skip
    wrong = "ABCDEFGHJKMN" if issued.code != "ABCDEFGHJKMN" else "NMKJHGFEDCBA"
    # The policy's budget is 5 checks per code (ActivationPolicy.counter_max_checks): after 5 wrong
    # guesses the right code is dead too.
    for _ in range(5):
        assert visitor.post("/portal/activate/counter", data={**account, "code": wrong}).status_code == 422
    dead = visitor.post("/portal/activate/counter", data={**account, "code": issued.code})
    assert dead.status_code == 422 and "激活码错误或已失效" in dead.text
    assert _admin(province, unit_id) == []
    # 20 attempts per IP and hour (ActivationPolicy.attempts_per_ip_hour): 6 made, 14 more pass, then 429.
    for _ in range(14):
        assert visitor.post("/portal/activate/counter", data={**account, "code": wrong}).status_code == 422
    limited = visitor.post("/portal/activate/counter", data={**account, "code": wrong})
    assert limited.status_code == 429 and "尝试次数过多" in limited.text

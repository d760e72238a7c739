"""The query PIN (查询密码): weak-PIN rules, setting it after login, kiosk and hotline person sessions, lockout."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest

from hub import ids, pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.identity import accounts, pins, subjects
from hub.identity.config import IdentityConfig
from hub.identity.errors import Forbidden, InvalidCode
from hub.identity.passwords import hash_password
from tests.conftest import Databases
from tests.identity.idkit import (
    ID_REGION,
    REGION,
    T0,
    CorePerson,
    build_core,
    config,
    connections,
    last_code,
    sent_messages,
)

PERSON_PW = "Zhang@2026a"
PIN = "583920"
CARD = "548426015"
KIOSK = subjects.for_client("kiosk-01", Channel.KIOSK, {"person:read", "contribution:read", "unit:read"})
KIOSK2 = subjects.for_client("kiosk-02", Channel.KIOSK, {"person:read"})
HOTLINE = subjects.for_client("ivr-12333", Channel.HOTLINE, {"person:read", "account:read", "card:read"})


@pytest.mark.parametrize(
    "pin",
    ["123456", "111111", "654321", "000000", "234567", "987654", "121212", "123123", "520520", "12345", "1234567",
     "12345a", "１２３４５６"],
)  # fmt: skip
def test_weak_or_malformed_pins_are_refused(pin: str) -> None:
    assert pins.problems(pin)


@pytest.mark.parametrize("pin", ["583920", "204817", "135792", "902468"])
def test_ordinary_pins_pass(pin: str) -> None:
    assert pins.problems(pin) == []


def test_a_pin_may_not_be_the_birth_date_or_the_id_tail() -> None:
    # Born 1980-05-17: YYMMDD 800517, MMDDYY 051780, DDMMYY 170580; ID 110105198005170011 ends 170011.
    personal = pins.personal_digits(date(1980, 5, 17), "110105198005170011")
    for pin in ("800517", "051780", "170580", "170011"):
        assert pins.problems(pin, personal=personal) == ["不能使用出生日期或证件号码中的数字"], pin
    assert pins.problems(PIN, personal=personal) == []


def _person_account(hub: psycopg.Connection[Any], cfg: IdentityConfig, person: CorePerson) -> accounts.Account:
    account_id = accounts.insert(
        hub,
        kind=SubjectKind.PERSON,
        login=accounts.person_login(cfg.hmac_key, "01", person.id_number),
        display_name=person.name,
        password_hash=hash_password(PERSON_PW),
        now=T0,
        phone=person.phone,
        person_id=person.person_id,
        region_codes=(REGION,),
    )
    hub.commit()
    account = accounts.get(hub, account_id)
    assert account is not None
    return account


def _logged_in(account: accounts.Account) -> Subject:
    return subjects.for_account(
        account,
        client_id="portal-web",
        channel=Channel.PORTAL,
        scopes=subjects.PERSON_SCOPES,
        grant_id=None,
        auth_methods=("pwd", "sms"),
    )


def _card(core_url: str, person_id: int, status: str = "1") -> None:
    with pg.connect(core_url) as conn:
        conn.execute(
            "insert into core.ac50 (aac001, aaz500, identify_code, status, bank, issued_on) "
            "values (%s, %s, %s, %s, '中国工商银行', '2020-01-01')",
            (person_id, CARD, "0" * 32, status),
        )
        conn.commit()


def _audit(hub: psycopg.Connection[Any], action: str) -> list[tuple[str, str, str]]:
    rows = hub.execute(
        "select result, client_id, channel from hub.audit_log where action = %s order by at, seq", (action,)
    ).fetchall()
    hub.commit()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_set_and_change_the_pin_after_a_full_login(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    cfg = config()
    with connections(dbs) as (hub, core, _):
        account = _person_account(hub, cfg, zhang)
        me = _logged_in(account)
        with pytest.raises(pins.WeakPin, match="两次输入"):
            pins.set_pin(hub, core, cfg, me, pin=PIN, confirm="583921", now=T0)
        with pytest.raises(pins.WeakPin, match="连续"):
            pins.set_pin(hub, core, cfg, me, pin="123456", confirm="123456", now=T0)
        # zhang was born 1980-05-17 (idkit.person_number): 800517 is refused.
        with pytest.raises(pins.WeakPin, match="出生日期"):
            pins.set_pin(hub, core, cfg, me, pin="800517", confirm="800517", now=T0)
        # A password-only session, a staff member, a kiosk client: refused.
        one_factor = Subject(SubjectKind.PERSON, account.id, "portal-web", Channel.PORTAL, auth_methods=("pwd",))
        staff = Subject(
            SubjectKind.STAFF, "acc_x", "portal-web", Channel.PORTAL, roles=frozenset({StaffRole.OPERATOR}),
            auth_methods=("pwd", "sms"),
        )  # fmt: skip
        for who in (one_factor, staff, KIOSK):
            with pytest.raises(Forbidden):
                pins.set_pin(hub, core, cfg, who, pin=PIN, confirm=PIN, now=T0)
        assert pins.set_pin(hub, core, cfg, me, pin=PIN, confirm=PIN, now=T0) is False
        stored = hub.execute("select pin_hash from hub.person_pin where account_id = %s", (account.id,)).fetchone()
        assert stored is not None and stored[0].startswith("$argon2id$") and PIN not in stored[0]
        assert pins.set_pin(hub, core, cfg, me, pin="204817", confirm="204817", now=T0) is True
        assert [r[0] for r in _audit(hub, "auth.pin.set")] == ["ok"]
        assert [r[0] for r in _audit(hub, "auth.pin.change")] == ["ok"]
        notices = [m for m in sent_messages(hub, zhang.phone) if m["purpose"] == "pin_set"]
        assert len(notices) == 2 and "查询密码已设置" in notices[0]["fields"]["content"]


def test_kiosk_card_and_pin(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    _card(dbs.core_url, zhang.person_id)
    cfg = config()
    with connections(dbs) as (hub, core, _):
        account = _person_account(hub, cfg, zhang)
        with pytest.raises(pins.InvalidPin):  # no PIN set yet
            pins.kiosk_card_session(hub, core, cfg, KIOSK, card_number=CARD, pin=PIN, now=T0)
        pins.set_pin(hub, core, cfg, _logged_in(account), pin=PIN, confirm=PIN, now=T0)
        with pytest.raises(pins.InvalidPin) as wrong:
            pins.kiosk_card_session(hub, core, cfg, KIOSK, card_number=CARD, pin="204817", now=T0)
        with pytest.raises(pins.InvalidPin) as unknown_card:
            pins.kiosk_card_session(hub, core, cfg, KIOSK, card_number="999999999", pin=PIN, now=T0)
        assert str(wrong.value) == str(unknown_card.value)  # the same reply
        with pytest.raises(Forbidden):  # the hotline system is not a kiosk
            pins.kiosk_card_session(hub, core, cfg, HOTLINE, card_number=CARD, pin=PIN, now=T0)
        person = pins.kiosk_card_session(hub, core, cfg, KIOSK, card_number=CARD, pin=PIN, now=T0)
        assert (person.kind, person.person_id, person.account_id) == (SubjectKind.PERSON, zhang.person_id, account.id)
        assert (person.client_id, person.channel, person.auth_methods) == ("kiosk-01", Channel.KIOSK, ("card", "pin"))
        # Capped by the device (no account:read), the kiosk channel and a person's reach (no unit:read).
        assert person.scopes == frozenset({"person:read", "contribution:read"})
        assert [r[0] for r in _audit(hub, "auth.pin.login")] == ["failed", "failed", "failed", "ok"]
        assert {r[1:] for r in _audit(hub, "auth.pin.login")} == {("kiosk-01", "kiosk")}
        # A card reported lost (挂失) no longer opens a session.
        with pg.connect(dbs.core_url) as c:
            c.execute("update core.ac50 set status = '2' where aaz500 = %s", (CARD,))
            c.commit()
        with pytest.raises(pins.InvalidPin):
            pins.kiosk_card_session(hub, core, cfg, KIOSK, card_number=CARD, pin=PIN, now=T0)


def test_kiosk_id_pin_and_sms_code(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    cfg = config()
    with connections(dbs) as (hub, core, r):
        account = _person_account(hub, cfg, zhang)
        pins.set_pin(hub, core, cfg, _logged_in(account), pin=PIN, confirm=PIN, now=T0)
        with pytest.raises(pins.InvalidPin):
            pins.kiosk_start_id_session(
                hub, core, r, cfg, KIOSK, document_type="01", document_number=zhang.id_number, pin="204817", now=T0
            )
        sent = pins.kiosk_start_id_session(
            hub, core, r, cfg, KIOSK, document_type="01", document_number=zhang.id_number, pin=PIN, now=T0
        )
        assert zhang.phone is not None and sent.phone_masked == ids.mask_phone(zhang.phone)
        code = last_code(hub, zhang.phone)
        with pytest.raises(InvalidCode):  # another kiosk cannot finish what this one started
            pins.kiosk_complete_id_session(hub, cfg, KIOSK2, ticket=sent.ticket, code=code, now=T0)
        person = pins.kiosk_complete_id_session(hub, cfg, KIOSK, ticket=sent.ticket, code=code, now=T0)
        assert (person.person_id, person.auth_methods) == (zhang.person_id, ("pin", "sms"))
        with pytest.raises(InvalidCode):  # single use
            pins.kiosk_complete_id_session(hub, cfg, KIOSK, ticket=sent.ticket, code=code, now=T0)


def _person_with_x(core_url: str) -> CorePerson:
    """A core person whose ID number ends in the check character X."""
    seq = next(s for s in range(10, 999) if ids.make_id_number(ID_REGION, date(1975, 2, 3), s, "1")[-1] == "X")
    number = ids.make_id_number(ID_REGION, date(1975, 2, 3), seq, "1")
    with pg.connect(core_url) as conn:
        conn.execute(
            "insert into core.ac01 (aac001, aac002, aac003, aac004, aac006, aac007, aac067, aaa027, aac084) "
            "values (2001, %s, '钱七', %s, %s, '2000-07-01', '13911110000', %s, '0')",
            (number, ids.id_sex(number), ids.id_birth_date(number), REGION),
        )
        conn.commit()
    return CorePerson(2001, number, "钱七", "13911110000")


def test_hotline_keypad_id_with_star_for_x_and_pin(dbs: Databases) -> None:
    build_core(dbs.core_url)
    qian = _person_with_x(dbs.core_url)
    cfg = config()
    with connections(dbs) as (hub, core, _):
        account = _person_account(hub, cfg, qian)
        pins.set_pin(hub, core, cfg, _logged_in(account), pin=PIN, confirm=PIN, now=T0)
        keyed = qian.id_number[:-1] + "*"  # the caller presses * for X
        assert pins.keypad_id_number(keyed + "#") == qian.id_number
        person = pins.hotline_session(
            hub, cfg, HOTLINE, keyed_id_number=keyed + "#", pin=PIN, now=T0, line="073188886666"
        )
        assert (person.person_id, person.channel, person.auth_methods) == (2001, Channel.HOTLINE, ("pin",))
        # Scopes are capped by the client: the hotline client here holds person, account and card reads.
        assert person.scopes == frozenset({"person:read", "account:read", "card:read"})
        with pytest.raises(Forbidden):
            pins.hotline_session(hub, cfg, KIOSK, keyed_id_number=keyed, pin=PIN, now=T0)
        with pytest.raises(pins.InvalidPin):
            pins.hotline_session(hub, cfg, HOTLINE, keyed_id_number=keyed[:-1] + "0", pin=PIN, now=T0)
        log_text = str(hub.execute("select * from hub.audit_log").fetchall())
        assert qian.id_number not in log_text and "073188886666" not in log_text and PIN not in log_text


def test_pin_lockout_per_source_then_everywhere(dbs: Databases) -> None:
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    _card(dbs.core_url, zhang.person_id)
    cfg = config(lockout_source_failures=3, lockout_source_minutes=15, lockout_global_failures=5)
    with connections(dbs) as (hub, core, _):
        account = _person_account(hub, cfg, zhang)
        pins.set_pin(hub, core, cfg, _logged_in(account), pin=PIN, confirm=PIN, now=T0)

        def at_kiosk(device: Subject, pin: str, now: Any = T0) -> Subject:
            return pins.kiosk_card_session(hub, core, cfg, device, card_number=CARD, pin=pin, now=now)

        for _ in range(3):
            with pytest.raises(pins.InvalidPin):
                at_kiosk(KIOSK, "204817")
        with pytest.raises(pins.InvalidPin):  # locked at this kiosk: the right PIN is refused too (4th failure)
            at_kiosk(KIOSK, PIN)
        assert at_kiosk(KIOSK2, PIN).person_id == zhang.person_id  # another kiosk: fine, and it resets the total
        from datetime import timedelta

        later = T0 + timedelta(minutes=15)
        assert at_kiosk(KIOSK, PIN, later).person_id == zhang.person_id  # the 15 minutes are over
        # Five failures spread over sources (none reaching its own limit of 3) lock it everywhere.
        third = subjects.for_client("kiosk-03", Channel.KIOSK, {"person:read"})
        for device in (KIOSK, KIOSK, KIOSK2, KIOSK2, third):
            with pytest.raises(pins.InvalidPin):
                at_kiosk(device, "204817", later)
        with pytest.raises(pins.InvalidPin):
            at_kiosk(third, PIN, later)
        notices = [m for m in sent_messages(hub, zhang.phone) if m["purpose"] == "pin_locked"]
        assert len(notices) == 1 and "查询密码因多次输入错误已被锁定" in notices[0]["fields"]["content"]
        # The password login is not affected by PIN failures.
        assert hub.execute(
            "select count(*) from hub.login_failure where account_id = %s and source not like 'pin:%%'", (account.id,)
        ).fetchone() == (0,)
        # The owner logs in and sets a new PIN: the lock is gone.
        pins.set_pin(hub, core, cfg, _logged_in(account), pin="204817", confirm="204817", now=later)
        assert at_kiosk(third, "204817", later).person_id == zhang.person_id


def test_the_pin_page_for_a_logged_in_person(dbs: Databases) -> None:
    from tests.identity.oauthkit import BrowserClient, hidden, make_app

    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    app, _ = make_app(dbs)
    with BrowserClient(app) as client:
        anonymous = client.get("/auth/pin", follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/auth/login?next=%2Fauth%2Fpin"
        assert client.post("/auth/pin", data={"pin": PIN, "pin2": PIN}, follow_redirects=False).status_code == 303
        with pg.connect(dbs.hub_url) as hub:
            _person_account(hub, app.state.identity.cfg, zhang)
        step = client.post(
            "/auth/login",
            data={"kind": "person", "document_type": "01", "login": zhang.id_number, "password": PERSON_PW, "next": ""},
        )
        assert step.status_code == 200, step.text
        with pg.connect(dbs.hub_url) as hub:
            code = last_code(hub, zhang.phone or "")
        client.post("/auth/login/verify", data={"ticket": hidden(step.text, "ticket"), "code": code, "next": ""})
        assert 'href="/auth/pin"' in client.get("/auth/account").text
        form = client.get("/auth/pin")
        assert form.status_code == 200 and 'name="pin"' in form.text and "您已设置过查询密码" not in form.text
        weak = client.post("/auth/pin", data={"pin": "111111", "pin2": "111111"})
        assert weak.status_code == 400 and "不能使用同一数字重复组成的密码" in weak.text
        forged = client.post("/auth/pin", data={"pin": PIN, "pin2": PIN, "csrf_token": "1.x"})
        assert forged.status_code == 403
        with pg.connect(dbs.hub_url) as hub:
            assert hub.execute("select count(*) from hub.person_pin").fetchone() == (0,)
        done = client.post("/auth/pin", data={"pin": PIN, "pin2": PIN})
        assert done.status_code == 200 and "查询密码已设置" in done.text
        assert "您已设置过查询密码" in client.get("/auth/pin").text
        with pg.connect(dbs.hub_url) as hub:
            assert hub.execute("select count(*) from hub.person_pin").fetchone() == (1,)

"""The query PIN (查询密码) of persons, and the person sessions of the kiosk and the 12333 hotline.

A person sets or changes the 6-digit PIN after a full (two-factor) login. It must not be trivially
weak: not one digit repeated, not a run such as 123456 or 654321, not a repeated pair or triple,
not on the list of common PINs, and not the person's birth date or the end of their ID number. It is
stored as argon2id over an HMAC of the PIN under the server key, so a stolen table cannot be
brute-forced over the mere million possible PINs without that key too.

Channel sessions (the endpoints come with the kiosk and hotline front ends):

- kiosk, card: the authenticated kiosk device + the 社会保障卡 number the kiosk read + the PIN;
- kiosk, no card: the ID number + the PIN, then an SMS code to the phone the core holds;
- hotline: the ID number keyed on the phone pad (``*`` for the check character X) + the PIN.

Lockout follows the password rules with counts of its own (``hub.identity.lockout``): 5 consecutive
failures from one source (a kiosk device, a hotline line) lock the PIN there for 15 minutes, 20 across
all sources lock it everywhere (the owner is told by SMS and unlocks by setting a new PIN after logging
in). Unknown person, no PIN set, wrong PIN, a card that is not in use, and a lockout all get the same
reply. Every attempt is audited; no PIN, ID number or card number is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any

import psycopg
import redis

from hub.access import channels
from hub.access.subject import Channel, Subject, SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import accounts, codes, core_lookup, documents, lockout, subjects
from hub.identity.config import IdentityConfig
from hub.identity.crypto import keyed_hash
from hub.identity.errors import Forbidden, IdentityError, InvalidCode, NoPhoneOnRecord
from hub.identity.passwords import DUMMY_HASH, hash_password, verify_password
from hub.messaging import outbox

log = logging.getLogger(__name__)

LENGTH = 6
KIOSK_LOGIN = "kiosk_login"
COMMON = frozenset(
    {
        "123456", "654321", "111111", "000000", "123123", "112233", "121212", "520520", "131420", "520131",
        "147258", "258369", "159753", "123321", "666666", "888888", "168168", "911911", "102030", "100200",
    }
)  # fmt: skip
LOCK_NOTICE = (
    "您的养老保险查询密码因多次输入错误已被锁定。如非本人操作，请登录个人网上服务重新设置查询密码，或致电12333。"
)
SET_NOTICE = "您的养老保险查询密码已设置。如非本人操作，请立即登录个人网上服务重新设置，或致电12333。"


class WeakPin(IdentityError):
    type = "weak-pin"
    title = "查询密码不符合要求"
    status = 400


class InvalidPin(IdentityError):
    """Wrong ID or card, no PIN, wrong PIN, or a lockout: the same reply in every case."""

    type = "invalid-pin"
    title = "证件号码（或社保卡）与查询密码不匹配"
    status = 401


def _runs(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    return steps in ({1}, {-1})


def problems(pin: str, *, personal: tuple[str, ...] = ()) -> list[str]:
    """Every rule ``pin`` breaks, as Chinese sentences (empty when acceptable).

    ``personal``: digit strings the PIN may not be (the birth date as YYMMDD and MMDD…, ID-number tails).
    """
    if len(pin) != LENGTH or not pin.isascii() or not pin.isdigit():
        return [f"查询密码须为{LENGTH}位数字"]
    found: list[str] = []
    if len(set(pin)) == 1:
        found.append("不能使用同一数字重复组成的密码")
    if _runs(pin):
        found.append("不能使用连续递增或递减的数字")
    if pin[:2] * 3 == pin or pin[:3] * 2 == pin:
        found.append("不能使用重复的数字组合")
    if pin in COMMON:
        found.append("该密码过于常见，请换一个")
    if pin in personal:
        found.append("不能使用出生日期或证件号码中的数字")
    return found


def personal_digits(birth: date | None, document_number: str | None) -> tuple[str, ...]:
    """What a PIN of this person may not be: the birth date (YYMMDD, MMDDYY, DDMMYY) and the ID number's tails."""
    found: list[str] = []
    if birth is not None:
        yy, mm, dd = f"{birth.year % 100:02d}", f"{birth.month:02d}", f"{birth.day:02d}"
        found += [yy + mm + dd, mm + dd + yy, dd + mm + yy, f"{birth.year}"[:2] + mm + dd]
    if document_number:
        digits = "".join(c for c in document_number if c.isdigit())
        found += [digits[-6:], document_number[-7:-1]] if len(digits) >= 6 else []
    return tuple(found)


def _prehash(cfg: IdentityConfig, pin: str) -> str:
    return keyed_hash(cfg.hmac_key, "query-pin", pin)


def has_pin(conn: psycopg.Connection[Any], account_id: str) -> bool:
    return conn.execute("select 1 from hub.person_pin where account_id = %s", (account_id,)).fetchone() is not None


def set_pin(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    subject: Subject,
    *,
    pin: str,
    confirm: str,
    now: datetime,
) -> bool:
    """Set or change the caller's query PIN; True when it replaced an earlier one. Commits.

    Only a person logged in with two factors (password + SMS code) may do it. Clears the PIN's lockout
    counts and tells the owner by SMS. Raises Forbidden, WeakPin.
    """
    if subject.kind is not SubjectKind.PERSON or not {"sms", "otp"} & set(subject.auth_methods):
        raise Forbidden("请先以个人身份登录（密码及短信验证码）后再设置查询密码")
    account = accounts.get(conn, subject.account_id)
    if account is None or not account.active or account.person_id is None:
        raise Forbidden()
    if pin != confirm:
        raise WeakPin("两次输入的查询密码不一致")
    person = core_lookup.get_person(core, account.person_id)
    birth = _birth(core, account.person_id)
    found = problems(pin, personal=personal_digits(birth, person.document_number if person else None))
    if found:
        raise WeakPin("；".join(found))
    replaced = has_pin(conn, account.id)
    conn.execute(
        "insert into hub.person_pin (account_id, pin_hash, set_at) values (%s, %s, %s) "
        "on conflict (account_id) do update set pin_hash = excluded.pin_hash, set_at = excluded.set_at",
        (account.id, hash_password(_prehash(cfg, pin)), now),
    )
    lockout.clear_pin(conn, account.id)
    audit.event(
        conn,
        "auth.pin.change" if replaced else "auth.pin.set",
        "ok",
        at=now,
        actor_kind="person",
        actor=account.id,
        target_id=account.id,
        client_id=subject.client_id,
        channel=subject.channel.value,
    )
    phone = person.phone if person is not None and core_lookup.is_mobile(person.phone) else None
    if phone:
        outbox.enqueue(
            conn,
            to=phone,
            template="staff_notice",
            personalisation={"content": SET_NOTICE},
            priority=outbox.Priority.CODE,
            purpose="pin_set",
        )
    conn.commit()
    log.info("query PIN %s for account %s", "changed" if replaced else "set", account.id)
    return replaced


def _birth(core: psycopg.Connection[Any], person_id: int) -> date | None:
    row = core.execute("select aac006 from core.ac01 where aac001 = %s", (person_id,)).fetchone()
    return row[0] if row and isinstance(row[0], date) else None


# channel sessions ------------------------------------------------------------------------------
def _require_device(device: Subject, channel: Channel) -> None:
    if device.kind is not SubjectKind.CLIENT or device.channel is not channel:
        raise Forbidden("该终端无权办理此业务")


def _source(device: Subject, line: str | None = None) -> str:
    # A hotline line (caller number) is kept only as a keyed hash: it is a phone number.
    return f"pin:{device.channel.value}:{device.client_id}" + (f":{line}" if line else "")


def _person_subject(device: Subject, account: accounts.Account, methods: tuple[str, ...]) -> Subject:
    """The person as seen through the device: scopes capped by the device, its channel and the person."""
    allowed = {str(s) for s in channels.policy(device.channel).scopes}
    return subjects.for_account(
        account,
        client_id=device.client_id,
        channel=device.channel,
        scopes=set(device.scopes) & allowed & subjects.PERSON_SCOPES,
        grant_id=None,
        auth_methods=methods,
    )


def _event(
    conn: psycopg.Connection[Any], device: Subject, result: str, account_id: str, via: str, now: datetime
) -> None:
    audit.event(
        conn,
        "auth.pin.login",
        result,
        at=now,
        actor_kind="person" if account_id else "anonymous",
        actor=account_id,
        target_id=account_id,
        purpose=f"identity:{via}",
        client_id=device.client_id,
        channel=device.channel.value,
    )


def _check_pin(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    device: Subject,
    account: accounts.Account | None,
    pin: str,
    *,
    source: str,
    via: str,
    now: datetime,
) -> accounts.Account:
    """The PIN factor with lockout; raises InvalidPin (the same for every failure). Commits failures."""
    row = (
        conn.execute("select pin_hash from hub.person_pin where account_id = %s", (account.id,)).fetchone()
        if account is not None
        else None
    )
    ok = verify_password(row[0] if row else DUMMY_HASH, _prehash(cfg, pin)) and row is not None
    if account is None or row is None:
        _event(conn, device, "failed", account.id if account else "", via, now)
        conn.commit()
        raise InvalidPin()
    locked = lockout.is_locked(conn, cfg.lockout, account.id, source, now, global_source=lockout.PIN_GLOBAL)
    if locked or not ok or not account.active:
        _event(conn, device, "locked" if locked else "failed", account.id, via, now)
        locked_now = lockout.record_failure(
            conn, cfg.lockout, account.id, source, now, global_source=lockout.PIN_GLOBAL
        )
        if locked_now and account.phone:
            outbox.enqueue(
                conn,
                to=account.phone,
                template="staff_notice",
                personalisation={"content": LOCK_NOTICE},
                priority=outbox.Priority.CODE,
                purpose="pin_locked",
            )
            log.warning("query PIN of account %s locked everywhere after repeated failures", account.id)
        conn.commit()
        raise InvalidPin()
    return account


def _by_document(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, document_type: str, number: str
) -> accounts.Account | None:
    try:
        compact = documents.normalize(document_type, number)
    except IdentityError:
        return None
    return accounts.find(conn, SubjectKind.PERSON, accounts.person_login(cfg.hmac_key, document_type, compact))


def kiosk_card_session(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    device: Subject,
    *,
    card_number: str,
    pin: str,
    now: datetime,
) -> Subject:
    """Kiosk: the card the kiosk read (社会保障卡卡号, in use) + the PIN → the person (amr card, pin). Commits.

    ``device`` is the kiosk's own authenticated client (channel kiosk). Raises Forbidden, InvalidPin.
    """
    _require_device(device, Channel.KIOSK)
    row = core.execute("select aac001 from core.ac50 where aaz500 = %s and status = '1'", (card_number.strip(),))
    found = row.fetchone()
    account = accounts.find_person(conn, int(found[0])) if found else None
    source = _source(device)
    account = _check_pin(conn, cfg, device, account, pin, source=source, via="kiosk_card", now=now)
    lockout.record_success(conn, account.id, source, global_source=lockout.PIN_GLOBAL)
    _event(conn, device, "ok", account.id, "kiosk_card", now)
    conn.commit()
    return _person_subject(device, account, ("card", "pin"))


@dataclass(frozen=True)
class KioskChallenge:
    ticket: str
    phone_masked: str


def kiosk_start_id_session(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    device: Subject,
    *,
    document_type: str,
    document_number: str,
    pin: str,
    now: datetime,
) -> KioskChallenge:
    """Kiosk without a card, step 1: ID number + PIN, then an SMS code to the phone the core holds. Commits.

    Raises Forbidden, InvalidPin, NoPhoneOnRecord, and the code-sending errors.
    """
    _require_device(device, Channel.KIOSK)
    account = _by_document(conn, cfg, document_type, document_number)
    account = _check_pin(conn, cfg, device, account, pin, source=_source(device), via="kiosk_id", now=now)
    assert account.person_id is not None
    person = core_lookup.get_person(core, account.person_id)
    if person is None or not core_lookup.is_mobile(person.phone) or person.phone is None:
        raise NoPhoneOnRecord()
    sent = codes.send_code(
        conn,
        r,
        cfg.codes,
        purpose=KIOSK_LOGIN,
        binding=f"kiosk:{device.client_id}:{account.id}",
        phone=person.phone,
        ip=_source(device),
        now=now,
        template="login_code",
    )
    conn.commit()
    return KioskChallenge(sent.ticket, sent.phone_masked)


def kiosk_complete_id_session(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, device: Subject, *, ticket: str, code: str, now: datetime
) -> Subject:
    """Kiosk without a card, step 2: the SMS code → the person (amr pin, sms). Only the kiosk that asked
    may complete it. Raises Forbidden, InvalidCode. Commits."""
    _require_device(device, Channel.KIOSK)
    pending = codes.peek(conn, ticket=ticket, purpose=KIOSK_LOGIN, now=now)
    if pending is None or not pending.binding.startswith(f"kiosk:{device.client_id}:"):
        raise InvalidCode()
    try:
        challenge = codes.check_code(conn, cfg.codes, ticket=ticket, purpose=KIOSK_LOGIN, code=code, now=now)
    except InvalidCode:
        conn.commit()
        raise
    account = accounts.get(conn, challenge.binding.rsplit(":", 1)[1])
    if account is None or not account.active:
        conn.commit()
        raise InvalidCode()
    source = _source(device)
    lockout.record_success(conn, account.id, source, global_source=lockout.PIN_GLOBAL)
    _event(conn, device, "ok", account.id, "kiosk_id_sms", now)
    conn.commit()
    return _person_subject(device, account, ("pin", "sms"))


def keypad_id_number(keys: str) -> str:
    """An ID number keyed on a phone pad: digits, and ``*`` for the check character X."""
    return keys.strip().replace("*", "X").replace("#", "")


def hotline_session(
    conn: psycopg.Connection[Any],
    cfg: IdentityConfig,
    device: Subject,
    *,
    keyed_id_number: str,
    pin: str,
    now: datetime,
    line: str | None = None,
) -> Subject:
    """Hotline (IVR): the ID number from the keypad + the PIN → the person (amr pin). Commits.

    ``device`` is the hotline system's client (channel hotline); ``line``, if given, is the calling
    number, so that lockouts apply per line (kept only as a keyed hash). Raises Forbidden, InvalidPin.
    """
    _require_device(device, Channel.HOTLINE)
    account = _by_document(conn, cfg, documents.RESIDENT_ID, keypad_id_number(keyed_id_number))
    line_key = keyed_hash(cfg.hmac_key, "hotline-line", line)[:16] if line else None
    source = _source(device, line_key)
    account = _check_pin(conn, cfg, device, account, pin, source=source, via="hotline", now=now)
    lockout.record_success(conn, account.id, source, global_source=lockout.PIN_GLOBAL)
    _event(conn, device, "ok", account.id, "hotline", now)
    conn.commit()
    return _person_subject(device, account, ("pin",))

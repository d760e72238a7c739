"""Person registration with a real-name check, and password reset by SMS code.

Knowing someone's ID number and name must not be enough to take their account: the code goes only to
the phone the core holds for that person. The hub reads the core (read-only) and never writes it.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import psycopg
import redis

from hub.access.subject import SubjectKind
from hub.audit import sync_writer as audit
from hub.identity import accounts, codes, core_lookup, documents, lockout
from hub.identity.config import IdentityConfig
from hub.identity.errors import AlreadyRegistered, InvalidCode, NoPhoneOnRecord, NotFound, RealNameMismatch
from hub.identity.passwords import hash_password

log = logging.getLogger(__name__)

REGISTER = "register"
RESET = "reset_password"


def _same_name(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        s = unicodedata.normalize("NFKC", s)
        return "".join(s.split()).replace("・", "·").replace("•", "·")

    return norm(a) == norm(b)


def start_registration(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    *,
    document_type: str,
    document_number: str,
    name: str,
    ip: str,
    now: datetime,
) -> codes.SentCode:
    """Check document + name against the core and send a code to the phone the core holds.

    Raises InvalidIdentifierError, RealNameMismatch (no such person or another name: the same reply),
    AlreadyRegistered, NoPhoneOnRecord, and the code-sending errors. Commits the code row.
    """
    number = documents.normalize(document_type, document_number)
    person = core_lookup.find_person(core, document_type, number)
    if person is None or not _same_name(person.name, name):
        raise RealNameMismatch()
    if accounts.find_person(conn, person.person_id) is not None:
        raise AlreadyRegistered()
    if not core_lookup.is_mobile(person.phone):
        raise NoPhoneOnRecord()
    assert person.phone is not None
    sent = codes.send_code(
        conn,
        r,
        cfg.codes,
        purpose=REGISTER,
        binding=f"person:{person.person_id}",
        phone=person.phone,
        ip=ip,
        now=now,
        template="register_code",
    )
    conn.commit()
    return sent


def _check(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, ticket: str, purpose: str, code: str, now: datetime
) -> str:
    try:
        challenge = codes.check_code(conn, cfg.codes, ticket=ticket, purpose=purpose, code=code, now=now)
    except InvalidCode:
        conn.commit()  # the failed check counts
        raise
    return challenge.binding


def complete_registration(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    cfg: IdentityConfig,
    *,
    ticket: str,
    code: str,
    password: str,
    now: datetime,
) -> accounts.Account:
    """Check the code, then create the person account bound to the core person. Commits.

    The password is checked before the code is consumed, so a weak password does not burn the code.
    """
    cfg.passwords.check(password)
    challenge = codes.peek(conn, ticket=ticket, purpose=REGISTER, now=now)
    if challenge is None:
        raise InvalidCode()
    binding = _check(conn, cfg, ticket, REGISTER, code, now)
    person = core_lookup.get_person(core, int(binding.split(":", 1)[1]))
    if person is None:
        raise RealNameMismatch()
    if accounts.find_person(conn, person.person_id) is not None:
        raise AlreadyRegistered()
    account_id = accounts.insert(
        conn,
        kind=SubjectKind.PERSON,
        login=accounts.person_login(cfg.hmac_key, person.document_type, person.document_number),
        display_name=person.name,
        password_hash=hash_password(password),
        now=now,
        phone=person.phone,
        person_id=person.person_id,
        region_codes=(person.region_code,),
        created_by="self-registration",
    )
    audit.event(conn, "auth.register", "ok", at=now, actor_kind="person", actor=account_id, target_id=account_id)
    conn.commit()
    log.info("person account %s registered", account_id)
    account = accounts.get(conn, account_id)
    assert account is not None
    return account


def start_reset(
    conn: psycopg.Connection[Any],
    core: psycopg.Connection[Any],
    r: redis.Redis,
    cfg: IdentityConfig,
    account: accounts.Account | None,
    *,
    ip: str,
    now: datetime,
) -> codes.SentCode:
    """Send a reset code to the account's phone (a person's: the phone the core holds now). Commits.

    For an unknown account the reply looks the same (a ticket that never verifies), so the form does
    not tell which accounts exist.
    """
    phone = account.phone if account is not None else None
    if account is not None and account.person_id is not None:
        person = core_lookup.get_person(core, account.person_id)
        phone = person.phone if person is not None else None
        if not core_lookup.is_mobile(phone):
            raise NoPhoneOnRecord()
        if phone != account.phone:
            accounts.set_phone(conn, account.id, phone)
    if account is None or phone is None:
        return codes.SentCode(secrets.token_urlsafe(24), "***********", now + timedelta(seconds=cfg.codes.ttl_seconds))
    sent = codes.send_code(
        conn,
        r,
        cfg.codes,
        purpose=RESET,
        binding=f"account:{account.id}",
        phone=phone,
        ip=ip,
        now=now,
        template="reset_password_code",
    )
    conn.commit()
    return sent


def complete_reset(
    conn: psycopg.Connection[Any], cfg: IdentityConfig, *, ticket: str, code: str, password: str, now: datetime
) -> accounts.Account:
    """Check the code and set the new password (policy and history apply); clears any lockout. Commits."""
    challenge = codes.peek(conn, ticket=ticket, purpose=RESET, now=now)
    if challenge is None:
        raise InvalidCode()
    account = accounts.get(conn, challenge.binding.split(":", 1)[1])
    if account is None:
        raise NotFound()
    cfg.passwords.check(password, accounts.password_history(conn, account.id, cfg.passwords.history))
    _check(conn, cfg, ticket, RESET, code, now)
    accounts.set_password(conn, account.id, hash_password(password), now)
    lockout.unlock(conn, account.id)
    audit.event(
        conn, "auth.password_reset", "ok", at=now, actor_kind=account.kind.value, actor=account.id, target_id=account.id
    )
    conn.commit()
    return account

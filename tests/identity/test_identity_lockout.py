"""Lockout: 5 failures lock one source for 15 minutes, 20 lock everywhere; identical replies; SMS unlock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from hub.access.subject import StaffRole, SubjectKind
from hub.identity import admin, lockout, login
from hub.identity.config import IdentityConfig
from hub.identity.errors import IdentityError, InvalidCredentials
from tests.conftest import Databases
from tests.identity.idkit import T0, MovableClock, config, connections, last_code, sent_messages

PHONE = "13800000022"
PASSWORD = "Staff@2026x"


def _staff(hub: psycopg.Connection[Any], cfg: IdentityConfig) -> str:
    account_id = admin.bootstrap_staff(
        hub,
        cfg,
        login="zhangwei",
        display_name="张伟",
        phone=PHONE,
        password=PASSWORD,
        role=StaffRole.REVIEWER,
        region_codes=("430102",),
        now=T0,
    )
    hub.commit()
    return account_id


def _attempt(
    dbs: Databases, cfg: IdentityConfig, password: str, source: str, now: datetime
) -> tuple[str, str, int] | str:
    """('error', detail, status) for a refusal, or the account id when the password step passed."""
    with connections(dbs) as (hub, core, _r):
        creds = login.Credentials(SubjectKind.STAFF, "zhangwei", password)
        try:
            return login.check_password(hub, core, cfg, creds, source=source, now=now).id
        except IdentityError as exc:
            return (type(exc).__name__, exc.detail, exc.status)


WRONG = ("InvalidCredentials", "账号或密码错误", 401)


def test_five_failures_lock_one_source_for_fifteen_minutes(dbs: Databases) -> None:
    cfg = config()
    clock = MovableClock()
    with connections(dbs) as (hub, _, _r):
        account_id = _staff(hub, cfg)
    for _ in range(5):
        assert _attempt(dbs, cfg, "wrong-Pass1", "ip:10.0.0.1", clock.advance(10)) == WRONG
    # Locked for this source: the right password gets exactly the wrong-password reply.
    assert _attempt(dbs, cfg, PASSWORD, "ip:10.0.0.1", clock.advance(10)) == WRONG
    # Another source is not locked.
    assert _attempt(dbs, cfg, PASSWORD, "ip:10.0.0.2", clock.now) == account_id
    # The lock set by the 5th failure (T0+50 s) ends at T0+50 s+15 min; refused attempts do not prolong it.
    assert (
        _attempt(dbs, cfg, PASSWORD, "ip:10.0.0.1", T0 + timedelta(seconds=50, minutes=15) - timedelta(seconds=1))
        == WRONG
    )
    assert _attempt(dbs, cfg, PASSWORD, "ip:10.0.0.1", T0 + timedelta(seconds=50, minutes=15)) == account_id


def test_unknown_login_gets_the_same_reply(dbs: Databases) -> None:
    cfg = config()
    with connections(dbs) as (hub, core, _r):
        _staff(hub, cfg)
        with pytest.raises(InvalidCredentials) as err:
            login.check_password(
                hub, core, cfg, login.Credentials(SubjectKind.STAFF, "nobody", PASSWORD), source="ip:1", now=T0
            )
    assert (type(err.value).__name__, err.value.detail, err.value.status) == WRONG


def test_twenty_failures_lock_everywhere_tell_the_owner_and_sms_unlock(dbs: Databases) -> None:
    cfg = config()
    clock = MovableClock()
    with connections(dbs) as (hub, _, _r):
        account_id = _staff(hub, cfg)
    # 4 failures from each of 5 sources: no source reaches 5, the account reaches 20.
    for i in range(20):
        assert _attempt(dbs, cfg, "wrong-Pass1", f"ip:10.0.1.{i % 5}", clock.advance(1)) == WRONG
    with connections(dbs) as (hub, _, _r):
        assert lockout.is_globally_locked(hub, cfg.lockout, account_id)
        notices = [m for m in sent_messages(hub, PHONE) if m["purpose"] == "account_locked"]
        assert len(notices) == 1 and "已被锁定" in notices[0]["fields"]["content"]
    # Locked everywhere, a fresh source too, and it does not run out with time.
    assert _attempt(dbs, cfg, PASSWORD, "ip:172.16.0.9", clock.advance(24 * 3600)) == WRONG
    # The owner unlocks with an SMS code.
    with connections(dbs) as (hub, core, r):
        creds = login.Credentials(SubjectKind.STAFF, "zhangwei", "")
        sent = login.start_unlock(hub, core, r, cfg, creds, ip="172.16.0.9", now=clock.advance(1))
        assert sent is not None
        login.complete_unlock(hub, cfg, ticket=sent.ticket, code=last_code(hub, PHONE), now=clock.advance(30))
    assert _attempt(dbs, cfg, PASSWORD, "ip:10.0.1.0", clock.advance(1)) == account_id


def test_start_unlock_sends_nothing_for_an_account_that_is_not_locked(dbs: Databases) -> None:
    cfg = config()
    with connections(dbs) as (hub, core, r):
        _staff(hub, cfg)
        creds = login.Credentials(SubjectKind.STAFF, "zhangwei", "")
        assert login.start_unlock(hub, core, r, cfg, creds, ip="1.1.1.1", now=T0) is None
        assert sent_messages(hub, PHONE) == []


def test_a_success_resets_the_counts_and_thresholds_are_configurable(dbs: Databases) -> None:
    cfg = config(lockout_source_failures=3, lockout_source_minutes=1, lockout_global_failures=6)
    clock = MovableClock()
    with connections(dbs) as (hub, core, r):
        account_id = _staff(hub, cfg)
    for _ in range(2):
        assert _attempt(dbs, cfg, "wrong-Pass1", "ip:1", clock.advance(1)) == WRONG
    # A complete login (password + SMS code) clears the counts.
    with connections(dbs) as (hub, core, r):
        creds = login.Credentials(SubjectKind.STAFF, "zhangwei", PASSWORD)
        challenge = login.start_login(hub, core, r, cfg, creds, source="ip:1", ip="1", now=clock.advance(1))
        done = login.complete_login(
            hub, cfg, ticket=challenge.ticket, code=last_code(hub, PHONE), source="ip:1", now=clock.advance(5)
        )
        assert done.account.id == account_id and done.auth_methods == ("pwd", "sms")
    for _ in range(2):
        assert _attempt(dbs, cfg, "wrong-Pass1", "ip:1", clock.advance(1)) == WRONG
    assert _attempt(dbs, cfg, PASSWORD, "ip:1", clock.advance(1)) == account_id  # 2 < 3: not locked
    assert _attempt(dbs, cfg, "wrong-Pass1", "ip:1", clock.advance(1)) == WRONG  # 3rd in a row: locked
    assert _attempt(dbs, cfg, PASSWORD, "ip:1", clock.advance(1)) == WRONG
    assert _attempt(dbs, cfg, PASSWORD, "ip:1", clock.advance(60)) == account_id  # 1 minute later

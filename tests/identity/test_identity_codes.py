"""SMS verification codes: expiry, single use, 5 checks, cooldown, daily caps, Redis down — movable clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from hub.identity import codes
from hub.identity.errors import CodeCooldown, CodeQuotaExceeded, InvalidCode, SmsUnavailable
from hub.messaging.outbox import Priority
from hub.messaging.templates import render
from tests.conftest import Databases
from tests.identity.idkit import T0, config, connections, last_code, sent_messages

PHONE = "13912345678"


def _send(
    dbs: Databases,
    policy: codes.CodePolicy,
    *,
    at: int = 0,
    phone: str = PHONE,
    ip: str = "10.0.0.1",
    purpose: str = "login",
) -> codes.SentCode:
    with connections(dbs) as (hub, _, r):
        sent = codes.send_code(
            hub, r, policy, purpose=purpose, binding="account:a1", phone=phone, ip=ip, now=T0 + timedelta(seconds=at)
        )
        hub.commit()
    return sent


def _check(dbs: Databases, policy: codes.CodePolicy, ticket: str, code: str, *, at: int, purpose: str = "login") -> str:
    with connections(dbs) as (hub, _, _r):
        try:
            challenge = codes.check_code(
                hub, policy, ticket=ticket, purpose=purpose, code=code, now=T0 + timedelta(seconds=at)
            )
        finally:
            hub.commit()  # a failed check still counts
    return challenge.binding


def test_code_is_six_digits_hashed_and_queued_with_code_priority(dbs: Databases) -> None:
    policy = config().codes
    sent = _send(dbs, policy)
    assert sent.phone_masked == "139****5678"
    assert sent.expires_at == T0 + timedelta(minutes=5)
    with connections(dbs) as (hub, _, _r):
        code = last_code(hub, PHONE)
        assert len(code) == 6 and code.isdigit()
        [message] = sent_messages(hub, PHONE)
        assert message["priority"] == Priority.CODE
        assert "验证码" in render(message["template"], message["fields"])
        stored = hub.execute("select code_hmac, phone_masked from hub.verification_code").fetchall()
        assert stored[0][0] != code and code not in stored[0][0] and len(stored[0][0]) == 64  # HMAC-SHA256 hex
        assert stored[0][1] == "139****5678"
    assert _check(dbs, policy, sent.ticket, code, at=10) == "account:a1"


def test_code_expires_after_five_minutes(dbs: Databases) -> None:
    policy = config().codes
    sent = _send(dbs, policy)
    with connections(dbs) as (hub, _, _r):
        code = last_code(hub, PHONE)
    with pytest.raises(InvalidCode):
        _check(dbs, policy, sent.ticket, code, at=300)  # exactly 5 minutes: expired
    second = _send(dbs, policy, at=360)
    with connections(dbs) as (hub, _, _r):
        code2 = last_code(hub, PHONE)
    assert _check(dbs, policy, second.ticket, code2, at=360 + 299) == "account:a1"  # 4 min 59 s: still valid


def test_code_is_single_use_and_bound_to_its_purpose(dbs: Databases) -> None:
    policy = config().codes
    sent = _send(dbs, policy)
    with connections(dbs) as (hub, _, _r):
        code = last_code(hub, PHONE)
    with pytest.raises(InvalidCode):
        _check(dbs, policy, sent.ticket, code, at=5, purpose="register")  # asked for a login, not a registration
    _check(dbs, policy, sent.ticket, code, at=6)
    with pytest.raises(InvalidCode):
        _check(dbs, policy, sent.ticket, code, at=7)  # used


def test_at_most_five_checks_per_code(dbs: Databases) -> None:
    policy = config().codes
    sent = _send(dbs, policy)
    with connections(dbs) as (hub, _, _r):
        code = last_code(hub, PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    messages = []
    for i in range(5):
        with pytest.raises(InvalidCode) as err:
            _check(dbs, policy, sent.ticket, wrong, at=10 + i)
        messages.append(err.value.detail)
    assert messages == [
        "验证码错误，还可尝试4次",
        "验证码错误，还可尝试3次",
        "验证码错误，还可尝试2次",
        "验证码错误，还可尝试1次",
        "验证码错误次数过多，请重新获取",
    ]
    with pytest.raises(InvalidCode):
        _check(dbs, policy, sent.ticket, code, at=20)  # the right code after five checks: dead


def test_resend_cooldown_sixty_seconds(dbs: Databases) -> None:
    policy = config().codes
    _send(dbs, policy)
    with pytest.raises(CodeCooldown) as err:
        _send(dbs, policy, at=59)
    assert err.value.detail == "验证码发送过于频繁，请1秒后再试"
    with pytest.raises(CodeCooldown) as err:
        _send(dbs, policy, at=15)
    assert err.value.detail == "验证码发送过于频繁，请45秒后再试"
    _send(dbs, policy, at=60)


def test_daily_caps_per_number_and_per_ip(dbs: Databases) -> None:
    policy = config(code_daily_per_phone=3, code_daily_per_ip=4, code_resend_seconds=0).codes
    for i in range(3):
        _send(dbs, policy, at=i)
    with pytest.raises(CodeQuotaExceeded):
        _send(dbs, policy, at=3)  # the 4th code to one number on one Shanghai day
    _send(dbs, policy, at=4, phone="13800000001")  # another number, same IP: the IP's 4th
    with pytest.raises(CodeQuotaExceeded):
        _send(dbs, policy, at=5, phone="13800000002")  # the IP's 5th
    _send(dbs, policy, at=6, phone="13800000002", ip="10.0.0.2")
    # T0 is 09:00 Shanghai; 15 h later it is the next Shanghai day and the counts start again.
    _send(dbs, policy, at=15 * 3600)


def test_sending_fails_closed_when_redis_is_down(dbs: Databases) -> None:
    policy = config().codes
    down = redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2, socket_connect_timeout=0.2)
    with connections(dbs) as (hub, _, _r):
        with pytest.raises(SmsUnavailable) as err:
            codes.send_code(hub, down, policy, purpose="login", binding="account:a1", phone=PHONE, ip="1.2.3.4", now=T0)
        assert err.value.status == 503
        assert err.value.title == "短信服务暂时不可用，请稍后再试"
        hub.rollback()
        assert sent_messages(hub) == []


def test_no_cooldown_means_none_even_for_requests_seen_out_of_order(dbs: Databases) -> None:
    # Two requests for one number at once: the one stamped earlier reaches Redis second. With a
    # cooldown of 0 s (a configuration some deployments use behind their own limits) neither is refused.
    policy = config(code_resend_seconds=0).codes
    _send(dbs, policy, at=10)
    _send(dbs, policy, at=9)

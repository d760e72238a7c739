"""SMS verification codes (DOMAIN.md §5): 6 digits from ``secrets``, single use, bound to what asked.

A code lives ``ttl`` (5 minutes), may be checked ``max_checks`` (5) times, and is stored only as an HMAC
under a server key. Sending is throttled in Redis (resend cooldown per number, daily caps per number
and per IP); when Redis cannot be reached, sending fails closed with ``SmsUnavailable``. Timestamps
come from the caller's clock, so the counters obey a moved clock too. Nothing here logs a code or a
full phone number.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import psycopg
import redis
from redis.exceptions import RedisError

from hub.config.auth import AuthSettings
from hub.crypto import payloads
from hub.identity.crypto import keyed_hash
from hub.identity.errors import CodeCooldown, CodeQuotaExceeded, InvalidCode, SmsUnavailable
from hub.ids import mask_phone
from hub.messaging import outbox

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")

# Cooldown, then the two daily caps, checked and counted atomically.
_SEND_SCRIPT = """
local now = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[2]) > 0 and last >= 0 and now - last < tonumber(ARGV[2]) then
  return {1, math.ceil(tonumber(ARGV[2]) - (now - last))}
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[3]) then return {2, 0} end
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[4]) then return {3, 0} end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 172800)
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 172800)
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[5])
return {0, 0}
"""


@dataclass(frozen=True)
class CodePolicy:
    ttl_seconds: int = 300
    max_checks: int = 5
    resend_seconds: int = 60
    daily_per_phone: int = 10
    daily_per_ip: int = 50
    hmac_key: str = "dev"
    redis_prefix: str = "hub:auth:"
    fixed_code: str | None = None  # test-only bypass, refused in production by AuthSettings

    @classmethod
    def from_settings(cls, s: AuthSettings) -> CodePolicy:
        return cls(
            s.code_ttl_seconds,
            s.code_max_checks,
            s.code_resend_seconds,
            s.code_daily_per_phone,
            s.code_daily_per_ip,
            s.code_hmac_key.get_secret_value(),
            s.redis_prefix,
            s.test_fixed_sms_code,
        )


@dataclass(frozen=True)
class SentCode:
    """What the caller may show: the ticket to send back with the code, the masked phone, the expiry."""

    ticket: str
    phone_masked: str
    expires_at: datetime


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _code_hash(policy: CodePolicy, ticket: str, code: str) -> str:
    return keyed_hash(policy.hmac_key, "sms-code:" + ticket, code)


def throttle(r: redis.Redis, policy: CodePolicy, *, phone: str, ip: str, now: datetime) -> None:
    """Count one send for ``phone`` and ``ip``, or raise (cooldown, daily cap, Redis unreachable)."""
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    phone_key = keyed_hash(policy.hmac_key, "phone", phone)[:32]
    keys = [
        f"{policy.redis_prefix}code:cool:{phone_key}",
        f"{policy.redis_prefix}code:day:{day}:p:{phone_key}",
        f"{policy.redis_prefix}code:day:{day}:ip:{ip}",
    ]
    args: list[str | int] = [
        f"{now.timestamp():.3f}",
        policy.resend_seconds,
        policy.daily_per_phone,
        policy.daily_per_ip,
        max(policy.resend_seconds * 2, 120),
    ]
    try:
        verdict, wait = cast(list[int], r.eval(_SEND_SCRIPT, 3, *keys, *args))
    except RedisError as exc:
        log.warning("SMS code refused: send counters unavailable (%s)", type(exc).__name__)
        raise SmsUnavailable() from None
    if verdict == 1:
        raise CodeCooldown(f"验证码发送过于频繁，请{int(wait)}秒后再试")
    if verdict in (2, 3):
        raise CodeQuotaExceeded()


def send_code(
    conn: psycopg.Connection[Any],
    r: redis.Redis,
    policy: CodePolicy,
    *,
    purpose: str,
    binding: str,
    phone: str,
    ip: str,
    now: datetime,
    template: str = "verification_code",
) -> SentCode:
    """Make a code for ``purpose``/``binding``, store its HMAC and put the SMS in the outbox. Never commits."""
    throttle(r, policy, phone=phone, ip=ip, now=now)
    code = policy.fixed_code or new_code()
    ticket = secrets.token_urlsafe(24)
    expires = now + timedelta(seconds=policy.ttl_seconds)
    masked = mask_phone(phone)
    conn.execute(
        "insert into hub.verification_code (ticket, purpose, binding_enc, method, code_hmac, phone_masked, "
        "created_at, expires_at) values (%s, %s, %s, 'sms', %s, %s, %s, %s)",
        (
            ticket,
            purpose,
            payloads.binding_envelope(conn, ticket, binding),  # sealed: it may hold the new number
            _code_hash(policy, ticket, code),
            masked,
            now,
            expires,
        ),
    )
    outbox.enqueue(
        conn,
        to=phone,
        template=template,
        personalisation={"code": code, "minutes": str(max(1, policy.ttl_seconds // 60))},
        priority=outbox.Priority.CODE,
        purpose=purpose,
    )
    log.info("SMS code issued for %s to %s", purpose, masked)
    return SentCode(ticket, masked, expires)


def open_challenge(
    conn: psycopg.Connection[Any], policy: CodePolicy, *, purpose: str, binding: str, now: datetime
) -> str:
    """A ticket for a second factor that is not an SMS (TOTP); the same expiry and check count apply."""
    ticket = secrets.token_urlsafe(24)
    conn.execute(
        "insert into hub.verification_code (ticket, purpose, binding_enc, method, created_at, expires_at) "
        "values (%s, %s, %s, 'totp', %s, %s)",
        (
            ticket,
            purpose,
            payloads.binding_envelope(conn, ticket, binding),
            now,
            now + timedelta(seconds=policy.ttl_seconds),
        ),
    )
    return ticket


@dataclass(frozen=True)
class Challenge:
    ticket: str
    purpose: str
    binding: str
    method: str


def peek(conn: psycopg.Connection[Any], *, ticket: str, purpose: str, now: datetime) -> Challenge | None:
    """The live challenge behind ``ticket`` (unused, unexpired, checks left), without consuming it."""
    row = conn.execute(
        "select binding_enc, binding, method from hub.verification_code where ticket = %s and purpose = %s "
        "and used_at is null and expires_at > %s",
        (ticket, purpose, now),
    ).fetchone()
    return Challenge(ticket, purpose, payloads.open_binding(conn, ticket, row[0], row[1]), row[2]) if row else None


def check_code(
    conn: psycopg.Connection[Any],
    policy: CodePolicy,
    *,
    ticket: str,
    purpose: str,
    code: str,
    now: datetime,
    verifier: Any = None,
) -> Challenge:
    """Consume the code behind ``ticket`` if ``code`` is right; raise ``InvalidCode`` otherwise.

    Every check counts, right or wrong; after ``max_checks`` the code is dead. A code asked for one
    purpose never passes for another. For a TOTP challenge ``verifier(code) -> bool`` decides. The row
    is locked, so two concurrent checks cannot both consume one code. Never commits.
    """
    row = conn.execute(
        "select binding_enc, binding, method, code_hmac, expires_at, checks, used_at from hub.verification_code "
        "where ticket = %s and purpose = %s for update",
        (ticket, purpose),
    ).fetchone()
    if row is None:
        raise InvalidCode()
    envelope, plain, method, code_hmac, expires_at, checks, used_at = row
    if used_at is not None or expires_at <= now or checks >= policy.max_checks:
        raise InvalidCode()
    conn.execute("update hub.verification_code set checks = checks + 1 where ticket = %s", (ticket,))
    if method == "sms":
        ok = secrets.compare_digest(code_hmac, _code_hash(policy, ticket, code.strip()))
    else:
        ok = bool(verifier is not None and verifier(code.strip()))
    if not ok:
        left = policy.max_checks - checks - 1
        raise InvalidCode(f"验证码错误，还可尝试{left}次" if left > 0 else "验证码错误次数过多，请重新获取")
    conn.execute("update hub.verification_code set used_at = %s where ticket = %s", (now, ticket))
    return Challenge(ticket, purpose, payloads.open_binding(conn, ticket, envelope, plain), method)

"""Image captchas (the ``captcha`` package) for the unit operator login; answers kept hashed in Redis.

An answer is single use and lives 5 minutes; case is ignored. When Redis is down no captcha can be
checked, so the login fails closed (the login sends an SMS anyway, which needs Redis too).
"""

from __future__ import annotations

import hashlib
import secrets

import redis
from captcha.image import ImageCaptcha
from redis.exceptions import RedisError

from hub.identity.errors import InvalidCaptcha, SmsUnavailable

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXY3456789"  # no 0/O, 1/I, 2/Z look-alikes
LENGTH = 4
TTL_SECONDS = 300


def _key(prefix: str, captcha_id: str) -> str:
    return f"{prefix}captcha:{captcha_id}"


def _digest(answer: str) -> str:
    return hashlib.sha256(answer.strip().upper().encode()).hexdigest()


def new(r: redis.Redis, prefix: str) -> tuple[str, str]:
    """A fresh captcha: (id, answer). Render the answer with ``image``."""
    answer = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    captcha_id = secrets.token_urlsafe(16)
    try:
        r.set(_key(prefix, captcha_id), _digest(answer), ex=TTL_SECONDS)
    except RedisError:
        raise SmsUnavailable() from None
    return captcha_id, answer


def image(answer: str) -> bytes:
    return ImageCaptcha(width=160, height=60).generate(answer, format="png").getvalue()


def check(r: redis.Redis, prefix: str, captcha_id: str, answer: str, *, fixed: str | None = None) -> None:
    """Consume the captcha; raise InvalidCaptcha unless ``answer`` is right (or the test-only fixed answer)."""
    try:
        stored = r.getdel(_key(prefix, captcha_id)) if captcha_id else None
    except RedisError:
        raise SmsUnavailable() from None
    if fixed is not None and answer.strip().upper() == fixed.upper():
        return
    if stored is None or not secrets.compare_digest(
        stored.decode() if isinstance(stored, bytes) else str(stored), _digest(answer)
    ):
        raise InvalidCaptcha()

"""Short person sessions of a device channel (kiosk, hotline), kept in Redis.

A kiosk session ends after 60 s without use (the card left in the reader, the person walked away), at
an absolute limit, or when the kiosk reports the card removed; a hotline session lasts one call. The
session belongs to the device that opened it: another device presenting the token gets nothing. Only a
keyed hash of the token is stored. When Redis is unreachable no session can be opened or used (503):
a person session never degrades to "no check".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import RedisError

from hub.access.subject import Channel, Subject, SubjectKind
from hub.errors import ServiceUnavailable, Unauthenticated


class SessionEnded(Unauthenticated):
    default_detail = "会话已结束，请重新插卡或验证身份"


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: int
    absolute_seconds: int
    prefix: str  # e.g. "hub:kiosk:"


def _dump(subject: Subject) -> dict[str, Any]:
    return {
        "kind": subject.kind.value,
        "account_id": subject.account_id,
        "client_id": subject.client_id,
        "channel": subject.channel.value,
        "scopes": sorted(subject.scopes),
        "person_id": subject.person_id,
        "auth_methods": list(subject.auth_methods),
    }


def _load(data: dict[str, Any]) -> Subject:
    return Subject(
        SubjectKind(data["kind"]),
        data["account_id"],
        data["client_id"],
        Channel(data["channel"]),
        frozenset(data["scopes"]),
        person_id=data["person_id"],
        auth_methods=tuple(data["auth_methods"]),
    )


class ChannelSessions:
    def __init__(
        self, r: redis.Redis, key: bytes, policy: SessionPolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = r
        self.key = key
        self.policy = policy
        self.clock = clock

    def _redis_key(self, token: str) -> str:
        digest = hmac.new(self.key, token.encode(), hashlib.sha256).hexdigest()[:40]
        return f"{self.policy.prefix}session:{digest}"

    def open(self, person: Subject, device: Subject) -> str:
        token = secrets.token_urlsafe(32)
        record = {"subject": _dump(person), "device": device.client_id, "started": self.clock()}
        try:
            self.redis.set(self._redis_key(token), json.dumps(record), ex=self.policy.idle_seconds)
        except RedisError:
            raise ServiceUnavailable("自助服务暂时不可用，请稍后再试", retry_after=5) from None
        return token

    def resolve(self, token: str, device: Subject) -> Subject:
        """The person of a live session opened by this device; refreshes the idle timer."""
        if not token or len(token) > 100:
            raise SessionEnded()
        key = self._redis_key(token)
        try:
            raw = self.redis.get(key)
            if raw is None:
                raise SessionEnded()
            record = json.loads(raw)
            if record["device"] != device.client_id:
                raise SessionEnded()  # another device: exactly like an ended session
            if self.clock() - float(record["started"]) > self.policy.absolute_seconds:
                self.redis.delete(key)
                raise SessionEnded()
            self.redis.expire(key, self.policy.idle_seconds)
        except RedisError:
            raise ServiceUnavailable("自助服务暂时不可用，请稍后再试", retry_after=5) from None
        return _load(record["subject"])

    def end(self, token: str, device: Subject) -> bool:
        key = self._redis_key(token)
        try:
            raw = self.redis.get(key)
            if raw is None or json.loads(raw)["device"] != device.client_id:
                return False
            self.redis.delete(self._kept_key(token))
            return bool(self.redis.delete(key))
        except RedisError:
            raise ServiceUnavailable("自助服务暂时不可用，请稍后再试", retry_after=5) from None

    # What a session produced and must hand out again unchanged (a kiosk's printed certificates): one Redis
    # hash per session, living at most as long as the session can, removed when the session ends. Call these
    # only with a token ``resolve`` has just accepted for the device.

    def _kept_key(self, token: str) -> str:
        return self._redis_key(token).replace(":session:", ":kept:", 1)

    def handle(self, token: str) -> str:
        """A name of the session that is not its token (for locks and logs)."""
        return self._redis_key(token).rsplit(":", 1)[-1]

    def recall(self, token: str, name: str) -> str | None:
        try:
            found = self.redis.hget(self._kept_key(token), name)
        except RedisError:
            raise ServiceUnavailable("自助服务暂时不可用，请稍后再试", retry_after=5) from None
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)

    def keep(self, token: str, name: str, value: str) -> None:
        key = self._kept_key(token)
        try:
            with self.redis.pipeline() as pipe:
                pipe.hset(key, name, value)
                pipe.expire(key, self.policy.absolute_seconds)
                pipe.execute()
        except RedisError:
            raise ServiceUnavailable("自助服务暂时不可用，请稍后再试", retry_after=5) from None

"""Rate limits: GCRA in one Redis Lua script, with an in-process fallback while Redis is unreachable.

Every request is checked against several keys at once (its client, subject, IP, each per route
class); the script admits the request only if every key admits it and then advances them all, so a
refused request costs nothing. Redis time is used, so web nodes need no synchronised clocks. When a
Redis call fails (short socket timeouts, no retry loop) the limiter switches to a local GCRA for a
moment and tries Redis again after ``retry_redis_after`` seconds; reads keep working, each node then
enforcing the limits on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.errors import RateLimited

log = logging.getLogger(__name__)

# KEYS: first ARGV[1] revocation markers (any of them existing refuses the request: {-1, 0}), then the
# limit keys. ARGV[2..]: per limit key, its emission interval and its burst tolerance (microseconds).
# Checking the caller's token revocation in the same call saves the request a second Redis round trip.
GCRA_LUA = """
local markers = tonumber(ARGV[1])
if markers > 0 and redis.call('EXISTS', unpack(KEYS, 1, markers)) > 0 then return {-1, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local tats = {}
for i = markers + 1, #KEYS do
  local key = KEYS[i]
  local j = i - markers
  local interval = tonumber(ARGV[2 * j])
  local tolerance = tonumber(ARGV[2 * j + 1])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local over = new_tat - tolerance - now
  if over > wait then wait = over end
  tats[j] = new_tat
end
if wait > 0 then return {0, wait} end
for i = markers + 1, #KEYS do
  local tat = tats[i - markers]
  redis.call('SET', KEYS[i], tat, 'PX', math.ceil((tat - now) / 1000) + 1)
end
return {1, 0}
"""


class Revoked(Exception):
    """One of the revocation markers handed to ``RateLimiter.check`` exists: the caller's token is revoked."""


@dataclass(frozen=True)
class Limit:
    """``rate`` requests per second sustained, ``burst`` at once."""

    rate: float
    burst: int

    @property
    def interval_us(self) -> int:
        return max(1, int(1_000_000 / self.rate))

    @property
    def tolerance_us(self) -> int:
        return self.interval_us * self.burst


DIMENSIONS = ("client", "subject", "ip")

DEFAULT_LIMITS: Mapping[str, Mapping[str, Limit]] = MappingProxyType(
    {
        "read": {"subject": Limit(20, 60), "client": Limit(2000, 4000), "ip": Limit(100, 200)},
        "graphql": {"subject": Limit(10, 30), "client": Limit(1000, 2000), "ip": Limit(50, 100)},
        "audit": {"subject": Limit(5, 20), "client": Limit(50, 100), "ip": Limit(20, 40)},
        "anonymous": {"ip": Limit(10, 20)},
    }
)


class LocalGcra:
    """The same algorithm in process memory (monotonic clock)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._tat: dict[str, int] = {}
        self._max_keys = max_keys

    def check(self, keys: Sequence[tuple[str, Limit]]) -> float:
        now = time.monotonic_ns() // 1000
        if len(self._tat) > self._max_keys:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        wait, tats = 0, []
        for key, limit in keys:
            new_tat = max(self._tat.get(key, 0), now) + limit.interval_us
            wait = max(wait, new_tat - limit.tolerance_us - now)
            tats.append(new_tat)
        if wait > 0:
            return wait / 1_000_000
        for (key, _), tat in zip(keys, tats, strict=True):
            self._tat[key] = tat
        return 0.0


class RateLimiter:
    def __init__(
        self,
        redis: Redis | None,
        limits: Mapping[str, Mapping[str, Limit]] = DEFAULT_LIMITS,
        *,
        prefix: str = "rl",
        retry_redis_after: float = 1.0,
    ) -> None:
        self.redis = redis
        self.limits = limits
        self.prefix = prefix
        self.local = LocalGcra()
        self._retry_after = retry_redis_after
        self._redis_down_until = 0.0
        self._script: Any = redis.register_script(GCRA_LUA) if redis is not None else None

    @property
    def using_fallback(self) -> bool:
        return self.redis is None or time.monotonic() < self._redis_down_until

    def keys_for(self, route_class: str, identities: Mapping[str, str | None]) -> list[tuple[str, Limit]]:
        limits = self.limits.get(route_class, {})
        return [
            (f"{self.prefix}:{route_class}:{dim}:{value}", limits[dim])
            for dim in DIMENSIONS
            if dim in limits and (value := identities.get(dim))
        ]

    async def check(
        self, route_class: str, identities: Mapping[str, str | None], revocation_markers: Sequence[str] = ()
    ) -> None:
        """Admit the request or raise RateLimited with the seconds to wait.

        With ``revocation_markers`` (Redis keys whose existence revokes the caller's token) the same script
        call first checks them and raises Revoked. While Redis is unreachable they are not checked: reads
        keep working on the local limiter, and access tokens live only minutes.
        """
        keys = self.keys_for(route_class, identities)
        if not keys and not revocation_markers:
            return
        wait = await self._check_redis(keys, revocation_markers) if not self.using_fallback else None
        if wait is None:
            wait = self.local.check(keys)
        if wait > 0:
            raise RateLimited(wait)

    async def _check_redis(self, keys: list[tuple[str, Limit]], markers: Sequence[str]) -> float | None:
        args: list[int] = [len(markers)]
        for _, limit in keys:
            args += [limit.interval_us, limit.tolerance_us]
        try:
            allowed, wait = await self._script(keys=[*markers, *(k for k, _ in keys)], args=args)
        except (RedisError, OSError) as exc:
            log.warning("rate limiter: Redis unreachable (%s); using the local limiter", type(exc).__name__)
            self._redis_down_until = time.monotonic() + self._retry_after
            return None
        if int(allowed) == -1:
            raise Revoked()
        return 0.0 if int(allowed) == 1 else int(wait) / 1_000_000

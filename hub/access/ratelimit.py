"""Rate limits: GCRA in one Redis Lua script, with an in-process fallback while Redis is unreachable.

Every request is checked against several keys at once (its client, subject, IP, each per route
class); the script admits the request only if every key admits it and then advances them all, so a
refused request costs nothing. Redis time is used, so web nodes need no synchronised clocks. When a
Redis call fails (short socket timeouts, no retry loop) the limiter switches to a local GCRA for a
moment and tries Redis again after ``retry_redis_after`` seconds; reads keep working, each node then
enforcing the limits on its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.access.batching import Coalescer, Pending
from hub.errors import RateLimited

log = logging.getLogger(__name__)

# One call checks a batch of requests (hub.access.batching: the checks made in one pass of the event loop).
# The batch travels as one argument, so the client encodes one value instead of half a dozen per request:
# per request a line of numbers — its number of revocation markers m, of limit keys n, per limit key its
# emission interval and burst tolerance in microseconds, then the byte length of each of its m + n keys —
# and right after the newline those keys' bytes, markers first. (The keys are therefore not declared in
# KEYS: the limiter uses one Redis, not a cluster, whose slots the keys of one request would span anyway.)
# Returns per request {allowed, wait}: {-1, 0} when one of its markers exists (the caller's token is
# revoked: checked in the same call, saving a second round trip), {0, wait} when a key refuses it (nothing
# advanced: a refused request costs nothing), {1, 0} when every key admits it (all advanced). Requests are
# taken in order, each seeing what the ones before it set. A key is read once per call and written once at
# its end (``tat``: its value as the requests so far left it): a key many requests of the batch share (the
# client's, a busy address's) costs one GET and one SET per call, not per request, and ends as the requests'
# GETs and SETs one by one would have left it (its last value, its expiry counted from the same ``now``).
GCRA_LUA = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local blob = ARGV[1]
local out = {}
local tat = {}
local advanced = {}
local pos = 1
while pos <= #blob do
  local nl = string.find(blob, '\\n', pos, true)
  local spec = {}
  for v in string.gmatch(string.sub(blob, pos, nl - 1), '%d+') do spec[#spec + 1] = tonumber(v) end
  pos = nl + 1
  local markers = spec[1]
  local n = spec[2]
  local keys = {}
  for j = 1, markers + n do
    local len = spec[2 + 2 * n + j]
    keys[j] = string.sub(blob, pos, pos + len - 1)
    pos = pos + len
  end
  if markers > 0 and redis.call('EXISTS', unpack(keys, 1, markers)) > 0 then
    out[#out + 1] = -1
    out[#out + 1] = 0
  else
    local wait = 0
    local tats = {}
    for j = 1, n do
      local key = keys[markers + j]
      local t = tat[key]
      if t == nil then
        t = tonumber(redis.call('GET', key) or '0')
        tat[key] = t
      end
      if t < now then t = now end
      local new_tat = t + spec[2 * j + 1]
      local over = new_tat - spec[2 * j + 2] - now
      if over > wait then wait = over end
      tats[j] = new_tat
    end
    if wait > 0 then
      out[#out + 1] = 0
      out[#out + 1] = wait
    else
      for j = 1, n do
        local key = keys[markers + j]
        if not advanced[key] then
          advanced[key] = true
          advanced[#advanced + 1] = key
        end
        tat[key] = tats[j]
      end
      out[#out + 1] = 1
      out[#out + 1] = 0
    end
  end
end
for i = 1, #advanced do
  local key = advanced[i]
  redis.call('SET', key, tat[key], 'PX', math.ceil((tat[key] - now) / 1000) + 1)
end
return out
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


# One request's check as queued for a batch: its limit keys and its revocation markers.
Check = tuple[list[tuple[str, Limit]], Sequence[str]]

DIMENSIONS = ("client", "subject", "ip")
# What ``RateLimiter.begin`` remembers refusals by: the subject (not the client, which all of an app's users
# share, nor the address, which a whole office behind one NAT may share). A revoked token's subject is
# doubted for a minute.
MARKED = ("subject",)
Mark = tuple[str, str, str | None]
MAX_REFUSED_MARKS = 10_000
REVOKED_DOUBT_SECONDS = 60.0


class Admission:
    """A begun rate-limit check (``RateLimiter.begin``): awaiting it gives the answer. ``doubtful``: the
    caller was refused lately, so nothing should be started for it before the answer."""

    __slots__ = ("_answer", "doubtful")

    def __init__(self, answer: Awaitable[None], doubtful: bool = False) -> None:
        self._answer = answer
        self.doubtful = doubtful

    def __await__(self) -> Generator[Any, None, None]:
        return self._answer.__await__()

    def then(self, wrap: Callable[[Awaitable[None]], Awaitable[None]]) -> Admission:
        """The same admission, its answer passed through ``wrap`` (e.g. to map an exception)."""
        return Admission(wrap(self._answer), self.doubtful)


DEFAULT_LIMITS: Mapping[str, Mapping[str, Limit]] = MappingProxyType(
    {
        "read": {"subject": Limit(20, 60), "client": Limit(2000, 4000), "ip": Limit(100, 200)},
        "graphql": {"subject": Limit(10, 30), "client": Limit(1000, 2000), "ip": Limit(50, 100)},
        "audit": {"subject": Limit(5, 20), "client": Limit(50, 100), "ip": Limit(20, 40)},
        "anonymous": {"ip": Limit(10, 20)},
    }
)


def limits_with(overrides: Mapping[str, Mapping[Any, tuple[float, int]]]) -> Mapping[str, Mapping[str, Limit]]:
    """``DEFAULT_LIMITS`` with the configured ``overrides`` (route class -> dimension -> (rate, burst))."""
    merged = {route: dict(dims) for route, dims in DEFAULT_LIMITS.items()}
    for route, dims in overrides.items():
        for dim, (rate, burst) in dims.items():
            if dim not in DIMENSIONS or rate <= 0 or burst < 1:
                raise ValueError(f"rate limit {route}.{dim}: need a known dimension, a rate > 0 and a burst >= 1")
            merged.setdefault(route, {})[dim] = Limit(rate, burst)
    return MappingProxyType({route: MappingProxyType(dims) for route, dims in merged.items()})


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
        # The checks made in one pass of the event loop go to Redis as one script call.
        self.batcher: Coalescer[Check, int | None] = Coalescer(self._run_batch)
        self._specs: dict[tuple[Any, ...], str] = {}  # (markers, *limits) -> the numbers of a request's line
        self._refused: OrderedDict[Mark, float] = OrderedDict()  # subjects refused lately -> until when

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
        await self.begin(route_class, identities, revocation_markers)

    def begin(
        self, route_class: str, identities: Mapping[str, str | None], revocation_markers: Sequence[str] = ()
    ) -> Admission:
        """``check`` begun now and awaited later: the Redis call joins this loop pass's batch at once, so
        the caller can start other work (a read whose rows it will not use if refused) meanwhile. The
        returned ``Admission`` must be awaited; it raises as ``check`` does. It is ``doubtful`` when this
        process refused the caller's subject lately (for the wait it was told): such a caller
        should get its answer before any work is started for it, so a client over its limit costs the
        stores nothing."""
        keys = self.keys_for(route_class, identities)
        if not keys and not revocation_markers:
            return Admission(_admitted())
        marks = [(route_class, dim, identities.get(dim)) for dim in MARKED]
        doubtful = bool(self._refused) and self._doubtful(marks)
        asked = None if self.using_fallback else self.batcher.add((keys, revocation_markers))
        return Admission(self._settle(asked, keys, marks), doubtful)

    async def _settle(
        self, asked: asyncio.Future[int | None] | None, keys: list[tuple[str, Limit]], marks: list[Mark]
    ) -> None:
        """The answer of a begun check: microseconds to wait (0: admitted), -1 revoked, None while Redis is
        unreachable (the local limiter decides)."""
        wait_us = await asked if asked is not None else None
        if wait_us is not None and wait_us < 0:
            self._note_refused(marks, REVOKED_DOUBT_SECONDS)
            raise Revoked()
        wait = self.local.check(keys) if wait_us is None else wait_us / 1_000_000
        if wait > 0:
            self._note_refused(marks, wait)
            raise RateLimited(wait)

    def _doubtful(self, marks: list[Mark]) -> bool:
        now = time.monotonic()
        refused = self._refused
        return any(refused.get(mark, 0.0) > now for mark in marks)

    def _note_refused(self, marks: list[Mark], seconds: float) -> None:
        until = time.monotonic() + seconds
        refused = self._refused
        for mark in marks:
            if mark[2]:
                refused[mark] = max(until, refused.get(mark, 0.0))
                refused.move_to_end(mark)
        while len(refused) > MAX_REFUSED_MARKS:
            refused.popitem(last=False)

    async def _run_batch(self, batch: Sequence[Pending[Check, int | None]]) -> None:
        """One script call for ``batch``: each future gets the microseconds to wait (0: admitted, -1:
        revoked), or None for all when Redis is unreachable (their callers use the local limiter)."""
        parts: list[bytes] = []
        specs = self._specs
        for item in batch:
            limit_keys, markers = item.ask
            shape = (len(markers), *(limit for _, limit in limit_keys))
            spec = specs.get(shape)
            if spec is None:
                numbers = [len(markers), len(limit_keys)]
                for _, limit in limit_keys:
                    numbers += (limit.interval_us, limit.tolerance_us)
                spec = specs[shape] = " ".join(map(str, numbers))
            keys = [k.encode() for k in markers]
            keys += (k.encode() for k, _ in limit_keys)
            parts.append(f"{spec} {' '.join([str(len(k)) for k in keys])}\n".encode())
            parts += keys
        try:
            out = await self._script(keys=[], args=[b"".join(parts)])
        except (RedisError, OSError) as exc:
            log.warning("rate limiter: Redis unreachable (%s); using the local limiter", type(exc).__name__)
            self._redis_down_until = time.monotonic() + self._retry_after
            for item in batch:
                if not item.future.done():  # a caller cancelled meanwhile has nobody to tell
                    item.future.set_result(None)
            return
        for i, item in enumerate(batch):
            if item.future.done():
                continue
            allowed, wait = int(out[2 * i]), int(out[2 * i + 1])
            item.future.set_result(-1 if allowed == -1 else 0 if allowed == 1 else max(1, wait))


async def _admitted() -> None:
    """A begun check with nothing to check (no limits, no revocation markers)."""

"""The ministry's service (部端: 招聘会, 岗位, 公考) behind timeouts, a short Redis cache and a circuit breaker.

A call first looks in Redis (``cache_ttl`` seconds; a Redis outage only skips the cache). On a miss it
asks the circuit breaker: after ``failure_threshold`` consecutive failures (timeout, refused connection,
a non-200 answer or a malformed body) the breaker opens and calls fail at once with
``MinistryUnavailable`` (503, "暂时无法获取，请稍后再试") for ``reset_after`` seconds; then it is half-open
and lets one trial call through: success closes it, failure opens it again for another pause.

The HTTP client is the standard library's (``urllib``) run in a worker thread, with a socket timeout and
an overall deadline; proxies from the environment are ignored unless ``use_env_proxy`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlencode

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.config.ministry import MinistrySettings
from hub.errors import TYPE_BASE, ServiceUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = "暂时无法获取，请稍后再试"


class MinistryUnavailable(ServiceUnavailable):
    """The ministry is down, slow or the breaker is open."""

    type: ClassVar[str] = TYPE_BASE + "ministry-unavailable"
    title: ClassVar[str] = "部级服务暂不可用"
    default_detail: ClassVar[str] = UNAVAILABLE


@dataclass(frozen=True)
class MinistryConfig:
    base_url: str = "http://127.0.0.1:8091"  # ``python -m mobile_api.ministry_fixture`` in development
    timeout: float = 2.0  # seconds, per socket operation and (plus a margin) for the whole call
    cache_ttl: int = 60  # seconds a successful answer is served from Redis; 0 disables the cache
    failure_threshold: int = 3  # consecutive failures that open the breaker
    reset_after: float = 30.0  # seconds the breaker stays open before a half-open trial
    use_env_proxy: bool = False
    redis_prefix: str = "hub:app:ministry:"

    @classmethod
    def from_settings(cls, settings: MinistrySettings) -> MinistryConfig:
        """From ``HUB_MINISTRY__…`` (hub.config.ministry)."""
        return cls(
            base_url=settings.url.rstrip("/"),
            timeout=settings.timeout_seconds,
            cache_ttl=settings.cache_ttl_seconds,
            failure_threshold=settings.failures,
            reset_after=settings.reset_after_seconds,
        )


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker with one trial call at a time while half-open (thread-safe)."""

    def __init__(self, failure_threshold: int, reset_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1 or reset_after < 0:
            raise ValueError("failure_threshold >= 1 and reset_after >= 0")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_after(self) -> int:
        with self._lock:
            if self._opened_at is None:
                return 1
            return max(1, int(-(-(self.reset_after - (self.clock() - self._opened_at)) // 1)))

    def allow(self) -> bool:
        """May a call go out now? While half-open only the first caller gets the trial."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.failure_threshold:
                self._opened_at = self.clock()  # (re)open: a failed trial starts another pause
            self._trial = False


class MinistryClient:
    def __init__(
        self, config: MinistryConfig, redis: Redis | None = None, breaker: CircuitBreaker | None = None
    ) -> None:
        self.config = config
        self.redis = redis
        self.breaker = breaker or CircuitBreaker(config.failure_threshold, config.reset_after)
        handlers: list[urllib.request.BaseHandler] = []
        if not config.use_env_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def _url(self, path: str, params: Mapping[str, str | int]) -> str:
        query = urlencode(sorted((k, str(v)) for k, v in params.items()))
        return f"{self.config.base_url.rstrip('/')}{path}" + (f"?{query}" if query else "")

    def _fetch(self, url: str) -> dict[str, Any]:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (configured base)
        with self._opener.open(request, timeout=self.config.timeout) as response:
            if response.status != 200:
                raise urllib.error.HTTPError(url, response.status, "unexpected status", response.headers, None)
            body = json.loads(response.read(1_000_001))
        if not isinstance(body, dict):
            raise ValueError("ministry answer is not an object")
        return body

    async def _cached(self, key: str) -> dict[str, Any] | None:
        if self.redis is None or self.config.cache_ttl <= 0:
            return None
        try:
            raw = await self.redis.get(key)
        except RedisError:
            return None
        if raw is None:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    async def _store(self, key: str, body: dict[str, Any]) -> None:
        if self.redis is None or self.config.cache_ttl <= 0:
            return
        with contextlib.suppress(RedisError):  # the cache is an optimisation
            await self.redis.set(key, json.dumps(body, ensure_ascii=False), ex=self.config.cache_ttl)

    async def get(self, path: str, params: Mapping[str, str | int], validate: Callable[[dict[str, Any]], Any]) -> Any:
        """``validate(body)`` of the ministry's answer to GET ``path``; MinistryUnavailable when it cannot be had.

        ``validate`` raising (a malformed answer) counts as a failure of the ministry.
        """
        url = self._url(path, params)
        key = self.config.redis_prefix + url.split("://", 1)[-1].split("/", 1)[-1]
        cached = await self._cached(key)
        if cached is not None:
            return validate(cached)
        if not self.breaker.allow():
            raise MinistryUnavailable(retry_after=self.breaker.retry_after())
        try:
            body = await asyncio.wait_for(asyncio.to_thread(self._fetch, url), self.config.timeout + 0.5)
            result = validate(body)
        except (OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            self.breaker.failure()
            log.warning("ministry call %s failed: %s; breaker %s", path, type(exc).__name__, self.breaker.state.value)
            raise MinistryUnavailable(retry_after=self.breaker.retry_after()) from None
        self.breaker.success()
        await self._store(key, body)
        return result

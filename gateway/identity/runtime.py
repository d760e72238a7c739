"""What the identity endpoints share in one web process: settings, policies, Redis, keys and the clock.

The identity services are synchronous (psycopg, redis-py, authlib's core); the endpoints run them in
the thread pool with a hub-DB connection of their own per request (login and token traffic is light;
the hot path, ``current_subject``, touches no database).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import redis
from fastapi import FastAPI

from hub import pg
from hub.http.csrf import CsrfProtect
from hub.identity import core_lookup, keys
from hub.identity.clock import Clock, system_clock
from hub.identity.config import IdentityConfig
from hub.identity.crypto import keyed_hash
from hub.identity.sessions import SessionPolicy
from hub.identity.tokens import SigningKeys, VerifiedTokens
from hub.runtime import Endpoints
from hub.settings import Settings

log = logging.getLogger(__name__)

KEYS_REFRESH_SECONDS = 60.0


@dataclass
class IdentityRuntime:
    settings: Settings
    endpoints: Endpoints
    cfg: IdentityConfig
    clock: Clock = system_clock
    _redis: redis.Redis | None = None
    _keys: SigningKeys | None = None
    _keys_loaded: float = 0.0
    _csrf: CsrfProtect | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    verified: VerifiedTokens = field(default_factory=VerifiedTokens)

    @classmethod
    def build(cls, settings: Settings, endpoints: Endpoints) -> IdentityRuntime:
        verified = VerifiedTokens(settings.auth.verified_token_entries)
        return cls(settings, endpoints, IdentityConfig.from_settings(settings.auth), verified=verified)

    @property
    def issuer(self) -> str:
        return self.cfg.settings.issuer.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.cfg.settings.secure_cookies(self.settings.environment)

    @property
    def csrf(self) -> CsrfProtect:
        """The CSRF guard of every form (key derived from the code HMAC key, domain-separated)."""
        if self._csrf is None:
            key = bytes.fromhex(keyed_hash(self.cfg.hmac_key, "csrf-key", "v1"))
            self._csrf = CsrfProtect(
                key,
                secure=self.secure_cookies,
                max_age_seconds=self.cfg.settings.csrf_max_age_seconds,
                clock=lambda: self.clock().timestamp(),
                trusted_origins=(self.issuer,),
            )
        return self._csrf

    @property
    def sessions(self) -> SessionPolicy:
        s = self.cfg.settings
        return SessionPolicy(
            timedelta(minutes=s.session_idle_minutes), timedelta(hours=s.session_absolute_hours), s.redis_prefix
        )

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                self.endpoints.redis_url, socket_timeout=0.25, socket_connect_timeout=1.0, retry_on_timeout=False
            )
        return self._redis

    @contextmanager
    def hub(self) -> Iterator[psycopg.Connection[Any]]:
        with pg.connect(self.endpoints.hub_db_url, application_name="hub-identity") as conn:
            yield conn

    @contextmanager
    def core(self) -> Iterator[psycopg.Connection[Any]]:
        with core_lookup.read_only(self.endpoints.core_db_url) as conn:
            yield conn

    def signing_keys(self, *, refresh: bool = False) -> SigningKeys:
        """The live keys (cached; reloaded every minute, on demand, or when a kid is unknown)."""
        with self._lock:
            stale = time.monotonic() - self._keys_loaded > KEYS_REFRESH_SECONDS
            if self._keys is None or stale or refresh:
                with self.hub() as conn:
                    self._keys = keys.ensure(conn, self.cfg.kek, self.clock(), self.cfg.settings.signing_keys_kept)
                self._keys_loaded = time.monotonic()
            return self._keys

    def cached_keys(self) -> SigningKeys | None:
        if self._keys is not None and time.monotonic() - self._keys_loaded <= KEYS_REFRESH_SECONDS:
            return self._keys
        return None


def runtime_of(app: FastAPI) -> IdentityRuntime:
    rt = app.state.identity
    assert isinstance(rt, IdentityRuntime)
    return rt

"""The device channels: self-service kiosks (``/kiosk/v1``) and the 12333 hotline (``/hotline/v1``).

Mounted by the gateway with its device authentication and a way to read as the person a device serves;
the person sessions live in Redis (60 s idle at a kiosk, one call on the hotline).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from channels import hall, hall_phone, kiosk, kiosk_cert, kiosk_phone
from channels.hotline import routes as hotline
from channels.reads import Authenticate, ReadOpener
from channels.sessions import ChannelSessions, SessionPolicy
from hub.identity.crypto import keyed_hash

KIOSK_IDLE_SECONDS = 60
KIOSK_ABSOLUTE_SECONDS = 15 * 60
CALL_SECONDS = 20 * 60


def mount(app: FastAPI, *, authenticate: Authenticate, open_read: ReadOpener) -> None:
    def kiosk_sessions(a: Any) -> ChannelSessions:
        return _sessions(a, "kiosk", SessionPolicy(KIOSK_IDLE_SECONDS, KIOSK_ABSOLUTE_SECONDS, ""))

    def hotline_calls(a: Any) -> ChannelSessions:
        return _sessions(a, "hotline", SessionPolicy(CALL_SECONDS, CALL_SECONDS, ""))

    app.include_router(kiosk.router(authenticate, open_read, kiosk_sessions))
    app.include_router(kiosk_cert.router(authenticate, kiosk_sessions))  # 待遇资格认证 at the kiosk
    app.include_router(hotline.router(authenticate, open_read, hotline_calls))
    app.include_router(hall.router(authenticate, open_read))
    app.include_router(kiosk_phone.router(authenticate, kiosk_sessions))  # 手机号码找回 at the kiosk
    app.include_router(hall_phone.router(authenticate))  # 手机号码找回 at the counter


def _sessions(app: Any, name: str, policy: SessionPolicy) -> ChannelSessions:
    cache = app.state.__dict__.setdefault("_channel_sessions", {})
    if name not in cache:
        rt = app.state.identity
        key = bytes.fromhex(keyed_hash(rt.cfg.hmac_key, "channel-session", name))
        prefix = f"{rt.cfg.settings.redis_prefix}{name}:"
        cache[name] = ChannelSessions(
            rt.redis,
            key,
            SessionPolicy(policy.idle_seconds, policy.absolute_seconds, prefix),
            clock=lambda: rt.clock().timestamp(),
        )
    found: ChannelSessions = cache[name]
    return found

"""Short-lived keeping of an upload's outcome between pages (Redis, 30 minutes, bound to the unit), sealed.

A checked file is never stored as a declaration until the clerk submits its preview; between the pages
only the clean payload, or the annotated workbook of a faulty file, is kept under a random token (which
is also the idempotency key of the later submit).

What is kept holds ID numbers, names and wages, and Redis may write it to disk (RDB/AOF): the value is one
SM4-GCM envelope (``hub.crypto.fields``) of the JSON document under the hub DB's active data key (the
keyring the hub-DB payloads use, cached per process: no query per request), with the Redis key and the
unit as associated data (``hub:portal:<area>:<token>`` and ``unit:<id>``). A value copied under another
token or area, changed, sealed under a key this process cannot open, or written in plain by an earlier
release does not open and is treated like an expired one: the unit sees the page's "预览已过期" message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from hub import pg
from hub.crypto import keys, ring
from hub.crypto.fields import Keyring, Kind
from hub.crypto.sm import SealBroken
from hub.errors import NotFound
from hub.wagefile import Upload, annotated_workbook

log = logging.getLogger(__name__)

TOKEN_SECONDS = 30 * 60
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _key(area: str, token: str) -> str:
    return f"hub:portal:{area}:{token}"


def context(area: str, token: str, unit_id: int) -> str:
    """What a kept value is bound to: its Redis key and the unit it was kept for."""
    return f"{_key(area, token)}|unit:{unit_id}"


def seal(keyring: Keyring, area: str, token: str, unit_id: int, document: dict[str, Any]) -> bytes:
    """The value stored under ``token``: the envelope of ``document`` bound to the key and the unit."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return keyring.seal(Kind.DOCUMENT, text, context(area, token, unit_id))


def open_value(keyring: Keyring | None, area: str, token: str, unit_id: int, raw: bytes) -> dict[str, Any] | None:
    """The document in ``raw`` (None when it does not open here: copied, changed, plaintext, unknown key)."""
    if keyring is None:
        return None
    try:
        stored = json.loads(keyring.open(raw, context(area, token, unit_id)))
    except (SealBroken, ValueError):
        return None
    return stored if isinstance(stored, dict) and stored.get("unit") == unit_id else None


async def _keyring(request: HTTPConnection, envelope: bytes | None = None) -> Keyring | None:
    """The hub DB's keyring from the process cache; the DB is asked only when it is cold or lacks a key.

    For sealing (``envelope`` None) the hub DB's first keys are created when there are none yet.
    """
    state = request.app.state
    async with state.pools.hub.connection() as conn:
        if envelope is not None:
            return await ring.for_reading_async(conn, keys.HUB_TABLE, [envelope])
        found = await ring.for_writing_async(conn, keys.HUB_TABLE)
    if found is not None:
        return found

    def create() -> Keyring:
        with pg.connect(state.endpoints.hub_db_url) as sync:
            return keys.ensure(sync, ring.kek(), datetime.now(UTC), keys.HUB_TABLE)

    return await asyncio.to_thread(create)


async def keep(request: HTTPConnection, area: str, unit_id: int, **data: Any) -> str:
    """Keep ``data`` for ``unit_id`` (sealed); returns the new token."""
    token = secrets.token_urlsafe(18)
    keyring = await _keyring(request)
    assert keyring is not None
    value = seal(keyring, area, token, unit_id, {"unit": unit_id, **data})
    await request.app.state.redis.set(_key(area, token), value, ex=TOKEN_SECONDS)
    return token


async def keep_annotated(request: HTTPConnection, area: str, unit_id: int, upload: Upload[Any]) -> str:
    """Keep the annotated workbook of a faulty upload; returns the token of its download link."""
    from starlette.concurrency import run_in_threadpool

    annotated = await run_in_threadpool(annotated_workbook, upload)
    return await keep(request, area, unit_id, annotated=base64.b64encode(annotated).decode())


async def load(request: HTTPConnection, area: str, unit_id: int, token: str) -> dict[str, Any] | None:
    """What was kept under ``token`` for this unit (None: unknown, expired, another unit's, or not opening)."""
    if not 0 < len(token) < 64:
        return None
    raw = await request.app.state.redis.get(_key(area, token))
    if not raw:
        return None
    raw = bytes(raw)
    try:
        keyring = await _keyring(request, raw)
    except keys.KeyringUnavailable:
        keyring = None
    found = open_value(keyring, area, token, unit_id, raw)
    if found is None:
        log.warning("kept upload in area %s does not open for this unit: treated as expired", area)
    return found


async def annotated_response(request: HTTPConnection, area: str, unit_id: int, token: str, filename: str) -> Response:
    stored = await load(request, area, unit_id, token)
    if stored is None or "annotated" not in stored:
        raise NotFound()
    return Response(
        base64.b64decode(stored["annotated"]),
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}", "Cache-Control": "no-store"},
    )

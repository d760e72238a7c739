"""Short-lived keeping of an upload's outcome between pages (Redis, 30 minutes, bound to the unit).

A checked file is never stored as a declaration until the clerk submits its preview; between the pages
only the clean payload, or the annotated workbook of a faulty file, is kept under a random token (which
is also the idempotency key of the later submit).
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from starlette.responses import Response

from hub.errors import NotFound
from hub.wagefile import Upload, annotated_workbook

TOKEN_SECONDS = 30 * 60
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _key(area: str, token: str) -> str:
    return f"hub:portal:{area}:{token}"


async def keep(redis: Any, area: str, unit_id: int, **data: Any) -> str:
    """Keep ``data`` for ``unit_id``; returns the new token."""
    token = secrets.token_urlsafe(18)
    await redis.set(_key(area, token), json.dumps({"unit": unit_id, **data}), ex=TOKEN_SECONDS)
    return token


async def keep_annotated(redis: Any, area: str, unit_id: int, upload: Upload[Any]) -> str:
    """Keep the annotated workbook of a faulty upload; returns the token of its download link."""
    from starlette.concurrency import run_in_threadpool

    annotated = await run_in_threadpool(annotated_workbook, upload)
    return await keep(redis, area, unit_id, annotated=base64.b64encode(annotated).decode())


async def load(redis: Any, area: str, unit_id: int, token: str) -> dict[str, Any] | None:
    """What was kept under ``token`` for this unit (None: unknown, expired or another unit's)."""
    raw = await redis.get(_key(area, token)) if 0 < len(token) < 64 else None
    stored = json.loads(raw) if raw else None
    return stored if isinstance(stored, dict) and stored.get("unit") == unit_id else None


async def annotated_response(redis: Any, area: str, unit_id: int, token: str, filename: str) -> Response:
    stored = await load(redis, area, unit_id, token)
    if stored is None or "annotated" not in stored:
        raise NotFound()
    return Response(
        base64.b64decode(stored["annotated"]),
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}", "Cache-Control": "no-store"},
    )

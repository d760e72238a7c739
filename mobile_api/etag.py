"""ETag and conditional GET (If-None-Match → 304) for app answers, computed over the exact JSON bytes."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

PUBLIC_CACHE = "public, max-age=60"
PRIVATE_CACHE = "private, no-cache"


def tag_of(body: bytes) -> str:
    # Weak: the same JSON may travel gzipped or not, and both are the same representation for the app.
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison; ``*`` matches any current representation."""
    if not if_none_match:
        return False
    wanted = tag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        c = candidate.strip()
        if c == "*" or c.removeprefix("W/") == wanted:
            return True
    return False


def respond(request: Request, payload: BaseModel, *, private: bool) -> Response:
    """The payload as JSON with an ETag, or 304 without a body when the client already holds it."""
    body = payload.model_dump_json().encode()
    tag = tag_of(body)
    headers = {"ETag": tag, "Cache-Control": PRIVATE_CACHE if private else PUBLIC_CACHE}
    if private:
        headers["Vary"] = "Authorization"
    if matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)

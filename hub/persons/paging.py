"""Opaque keyset cursors: base64url of the sort key of the last row seen."""

from __future__ import annotations

import base64
import binascii

from hub.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode(*key: int) -> str:
    return base64.urlsafe_b64encode(".".join(str(k) for k in key).encode()).decode().rstrip("=")


def decode(cursor: str | None, parts: int) -> tuple[int, ...] | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        key = tuple(int(p) for p in text.split("."))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed("分页游标无效") from None
    if len(key) != parts:
        raise ValidationFailed("分页游标无效")
    return key


def clamp(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"每页条数应在1到{MAX_LIMIT}之间")
    return limit

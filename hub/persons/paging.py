"""Opaque keyset cursors (base64url of the sort key of the last row seen) and the list filters' checks."""

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
    if len(key) != parts or not all(-(2**63) <= k < 2**63 for k in key):  # every part fits a bigint
        raise ValidationFailed("分页游标无效")
    return key


def year(value: int | None) -> int | None:
    """A year filter: None (all years) or 1990–2100."""
    if value is not None and not 1990 <= value <= 2100:
        raise ValidationFailed("年度不正确")
    return value


def clamp(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"每页条数应在1到{MAX_LIMIT}之间")
    return limit


def insurance(value: str | None) -> str | None:
    """A 险种 filter: None (all) or a three-digit code such as 120."""
    if value is not None and not (len(value) == 3 and value.isascii() and value.isdigit()):
        raise ValidationFailed("险种类型不正确")
    return value

"""Removal of identity rows that can no longer matter (run daily: ``hub auth prune``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg


def prune(conn: psycopg.Connection[Any], now: datetime) -> dict[str, int]:
    """Delete expired codes, authorization codes, refresh tokens and revoked-token ids. Never commits.

    Used refresh tokens stay until they expire: reuse detection needs them while the grant lives.
    Verification codes are kept a day past expiry for support questions ("did the code go out?"), and
    authorization codes too, so that a code replayed late is still recognised and its grant revoked.
    """
    statements = {
        "verification_code": ("delete from hub.verification_code where expires_at < %s", now - timedelta(days=1)),
        "oauth_code": ("delete from hub.oauth_code where expires_at < %s", now - timedelta(days=1)),
        "oauth_refresh_token": ("delete from hub.oauth_refresh_token where expires_at < %s", now),
        "oauth_revoked_jti": ("delete from hub.oauth_revoked_jti where expires_at < %s", now),
    }
    return {table: conn.execute(sql, (cutoff,)).rowcount for table, (sql, cutoff) in statements.items()}

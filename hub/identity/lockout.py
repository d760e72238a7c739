"""Login lockout (等保 8.1.4.1 b): per source, then everywhere.

``source_failures`` (5) consecutive failures from one source (an IP or a device) lock the account for
that source for ``source_minutes`` (15); ``global_failures`` (20) across all sources lock it
everywhere until the owner unlocks it with an SMS code (so a stranger cannot keep a retiree out for
good). A success resets the counters. The rows live in the hub DB; ``source = '*'`` is the global row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from hub.config.auth import AuthSettings

GLOBAL = "*"
# The query PIN (查询密码) keeps counts of its own under the same rules: sources "pin:…", this global row.
PIN_GLOBAL = "pin:*"


@dataclass(frozen=True)
class LockoutPolicy:
    source_failures: int = 5
    source_minutes: int = 15
    global_failures: int = 20

    @classmethod
    def from_settings(cls, s: AuthSettings) -> LockoutPolicy:
        return cls(s.lockout_source_failures, s.lockout_source_minutes, s.lockout_global_failures)


def is_locked(
    conn: psycopg.Connection[Any],
    policy: LockoutPolicy,
    account_id: str,
    source: str,
    now: datetime,
    *,
    global_source: str = GLOBAL,
) -> bool:
    rows = conn.execute(
        "select source, failures, locked_until from hub.login_failure where account_id = %s and source in (%s, %s)",
        (account_id, source, global_source),
    ).fetchall()
    for src, failures, locked_until in rows:
        if src == global_source and failures >= policy.global_failures:
            return True
        if src != global_source and locked_until is not None and locked_until > now:
            return True
    return False


def is_globally_locked(
    conn: psycopg.Connection[Any], policy: LockoutPolicy, account_id: str, *, global_source: str = GLOBAL
) -> bool:
    row = conn.execute(
        "select failures from hub.login_failure where account_id = %s and source = %s", (account_id, global_source)
    ).fetchone()
    return row is not None and row[0] >= policy.global_failures


def record_failure(
    conn: psycopg.Connection[Any],
    policy: LockoutPolicy,
    account_id: str,
    source: str,
    now: datetime,
    *,
    global_source: str = GLOBAL,
) -> bool:
    """Count one failure; True exactly when this failure locked the account everywhere. Never commits."""
    row = conn.execute(
        "select failures, locked_until from hub.login_failure where account_id = %s and source = %s for update",
        (account_id, source),
    ).fetchone()
    failures = 1
    if row is not None and not (row[1] is not None and row[1] <= now):
        failures = row[0] + 1  # a lock that has run out starts a fresh count
    locked_until = now + timedelta(minutes=policy.source_minutes) if failures >= policy.source_failures else None
    if row is not None and row[1] is not None and row[1] > now:
        locked_until = row[1]  # attempts during a lock count globally but do not prolong it
    conn.execute(
        "insert into hub.login_failure (account_id, source, failures, locked_until, updated_at) "
        "values (%s, %s, %s, %s, %s) on conflict (account_id, source) do update "
        "set failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at",
        (account_id, source, failures, locked_until, now),
    )
    total = conn.execute(
        "insert into hub.login_failure (account_id, source, failures, updated_at) values (%s, %s, 1, %s) "
        "on conflict (account_id, source) do update set failures = hub.login_failure.failures + 1, "
        "updated_at = excluded.updated_at returning failures",
        (account_id, global_source, now),
    ).fetchone()
    assert total is not None
    return int(total[0]) == policy.global_failures


def record_success(conn: psycopg.Connection[Any], account_id: str, source: str, *, global_source: str = GLOBAL) -> None:
    """A successful login clears this source's count and the global count. Never commits."""
    conn.execute(
        "delete from hub.login_failure where account_id = %s and source in (%s, %s)",
        (account_id, source, global_source),
    )


def clear_pin(conn: psycopg.Connection[Any], account_id: str) -> None:
    """Clear every query-PIN count and lock of the account (a new PIN was set after a full login)."""
    conn.execute("delete from hub.login_failure where account_id = %s and source like 'pin:%%'", (account_id,))


def unlock(conn: psycopg.Connection[Any], account_id: str) -> None:
    """Clear every count and lock of the account (the owner proved it with an SMS code). Never commits."""
    conn.execute("delete from hub.login_failure where account_id = %s", (account_id,))

"""Reading a database in a test: one query on its own connection, closed again before the test goes on.

``rows`` and ``one`` give the values as PostgreSQL returns them; ``texts`` gives every value as text, for
comparing with literals. ``audit`` reads ``hub.audit_log`` in the order the records were written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub import pg

Params = Sequence[Any] | dict[str, Any]


def rows(url: str, query: str, params: Params = ()) -> list[tuple[Any, ...]]:
    """Every row of ``query``."""
    with pg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(query, params).fetchall()]


def one(url: str, query: str, params: Params = ()) -> tuple[Any, ...]:
    """The first row of ``query``, which must give one."""
    with pg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return tuple(row)


def texts(url: str, query: str, params: Params = ()) -> list[tuple[str, ...]]:
    """Every row of ``query``, each value as ``str``."""
    return [tuple(str(v) for v in r) for r in rows(url, query, params)]


def audit(url: str, columns: str, where: str, params: Params = ()) -> list[tuple[str, ...]]:
    """``columns`` (as text) of the audit records matching ``where``, in the order written."""
    return texts(url, f"select {columns} from hub.audit_log where {where} order by chain_id, seq", params)


def password_state(url: str, account_id: str) -> tuple[str, bool, Any]:
    """(password hash, must change, expires at) of a hub account."""
    row = one(
        url,
        "select password_hash, password_must_change, password_expires_at from hub.account where id = %s",
        (account_id,),
    )
    return str(row[0]), bool(row[1]), row[2]

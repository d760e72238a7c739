"""The audit log's chain rule (0028_audit_chain_check): every record names a registered chain, checked once
per statement, and the registry of chains can only grow."""

from __future__ import annotations

import secrets
from typing import cast

import psycopg
import pytest

from hub import pg
from hub.audit.chain import GENESIS, link
from hub.audit.writer import INSERT_BATCH, batch_param
from tests.access.test_audit_chain import _entry
from tests.conftest import Databases


def _register(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    chain_id = f"registry-{secrets.token_hex(4)}"
    conn.execute("insert into hub.audit_chain (chain_id, host) values (%s, 'test')", (chain_id,))
    return chain_id


def _batch(chain_id: str, first: int, n: int) -> str:
    """A chained batch of ``n`` records of ``chain_id`` from sequence number ``first``, as the writer sends it."""
    records, head = [], GENESIS
    for seq in range(first, first + n):
        rec = link(chain_id, seq, _entry(seq), head)
        records.append(rec)
        head = rec.hash
    return batch_param(records)


def _count(conn: psycopg.Connection[tuple[object, ...]], chain_id: str) -> int:
    row = conn.execute("select count(*) from hub.audit_log where chain_id = %s", (chain_id,)).fetchone()
    assert row is not None
    return cast(int, row[0])  # count(): bigint


def test_a_batch_of_a_registered_chain_is_checked_once(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        chain = _register(conn)
        conn.execute("set local track_functions = 'pl'")
        conn.execute(INSERT_BATCH, (_batch(chain, 1, 10),))
        calls = conn.execute(
            "select calls from pg_stat_xact_user_functions where schemaname = 'hub' and funcname = %s",
            ("audit_chain_registered",),
        ).fetchone()
        conn.commit()
        assert _count(conn, chain) == 10
    # One check for the statement's ten rows (a foreign key ran one lookup per row).
    assert calls is not None and calls[0] == 1


def test_a_record_of_an_unregistered_chain_fails_its_whole_statement(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        chain = _register(conn)
        conn.commit()
        stray = f"unregistered-{secrets.token_hex(4)}"
        mixed = _batch(chain, 1, 3)[:-1] + "," + _batch(stray, 1, 1)[1:]  # three good records, one stray
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(INSERT_BATCH, (mixed,))
        conn.rollback()
        assert _count(conn, chain) == 0  # nothing of the statement was stored
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(INSERT_BATCH, (_batch(stray, 1, 2),))
        conn.rollback()
        assert _count(conn, stray) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "delete from hub.audit_chain where chain_id = %(c)s",
        "update hub.audit_chain set chain_id = %(c)s || '-renamed' where chain_id = %(c)s",
        "update hub.audit_chain set host = 'elsewhere' where chain_id = %(c)s",
        "truncate hub.audit_chain",  # no cascade: audit_log's own truncate rule must not be what refuses it
    ],
)
def test_the_registry_only_grows(dbs: Databases, statement: str) -> None:
    with pg.connect(dbs.hub_url) as conn:
        chain = _register(conn)
        conn.execute(INSERT_BATCH, (_batch(chain, 1, 2),))
        conn.commit()
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute(statement, {"c": chain})
        conn.rollback()
        row = conn.execute("select host from hub.audit_chain where chain_id = %s", (chain,)).fetchone()
        assert row == ("test",)
        assert _count(conn, chain) == 2

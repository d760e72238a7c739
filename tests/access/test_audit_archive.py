"""Audit retention: records older than six months move to the append-only archive; verify still walks
whole chains; nothing younger can be archived; neither table can be edited; the CLI does the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import psycopg
import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub import pg
from hub.audit import sync_writer
from hub.audit.archive import archive
from hub.audit.verify import verify
from hub.errors import ValidationFailed
from tests.conftest import Databases

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _events(conn: psycopg.Connection[tuple[object, ...]], ages_in_days: list[int]) -> None:
    for i, age in enumerate(ages_in_days):
        sync_writer.event(
            conn, "account.create", "ok", at=NOW - timedelta(days=age), actor_kind="system", actor="t", target_id=str(i)
        )
    conn.commit()


def _counts(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int]:
    live = conn.execute("select count(*) from hub.audit_log").fetchone()
    kept = conn.execute("select count(*) from hub.audit_log_archive").fetchone()
    assert live is not None and kept is not None
    return cast(int, live[0]), cast(int, kept[0])  # count(): bigint


def test_archive_moves_old_records_and_verify_still_passes(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        _events(conn, [400, 300, 250, 200, 30, 1])  # one chain, oldest first
    with pg.connect(dbs.hub_url, autocommit=True) as conn:
        with pytest.raises(ValidationFailed, match="至少保留6个月"):
            archive(conn, NOW - timedelta(days=100), now=NOW)
        assert archive(conn, NOW - timedelta(days=190), now=NOW, batch=2) == 4
        assert _counts(conn) == (2, 4)
        assert archive(conn, NOW - timedelta(days=190), now=NOW) == 0  # nothing left to move
        with conn.transaction():
            rows, findings = verify(conn, None)
        assert (rows, findings) == (6, [])
        # Plain deletes and edits stay impossible, in both tables.
        for sql in (
            "delete from hub.audit_log",
            "update hub.audit_log set purpose = 'x'",
            "delete from hub.audit_log_archive",
            "update hub.audit_log_archive set purpose = 'x'",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)
        # An edit of an archived record is found by verify.
        conn.execute("alter table hub.audit_log_archive disable trigger user")
        conn.execute("update hub.audit_log_archive set purpose = 'edited' where seq = 2")
        conn.execute("alter table hub.audit_log_archive enable trigger user")
        with conn.transaction():
            _, findings = verify(conn, None)
        assert [(f.seq, f.kind) for f in findings] == [(2, "edited")]


def test_the_chain_head_stays_live_and_writers_continue(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        _events(conn, [400, 390])
    with pg.connect(dbs.hub_url, autocommit=True) as conn:
        assert archive(conn, NOW - timedelta(days=190), now=NOW) == 1  # the head (seq 2) stays
    with pg.connect(dbs.hub_url) as conn:
        _events(conn, [0])
        assert conn.execute("select max(seq) from hub.audit_log").fetchone() == (3,)
        assert verify(conn, None) == (3, [])


def test_cli_archive(dbs: Databases) -> None:
    with pg.connect(dbs.hub_url) as conn:
        _events(conn, [500, 450, 10])
    env = {"HUB_CORE_DB_URL": dbs.core_url, "HUB_HUB_DB_URL": dbs.hub_url, "HUB_QUERY_DB_URL": dbs.query_url,
           "HUB_REDIS_URL": dbs.redis_url, "HUB_ENVIRONMENT": "test"}  # fmt: skip
    runner = CliRunner()
    young = (NOW - timedelta(days=30)).date().isoformat()
    assert runner.invoke(cli, ["audit", "archive", "--before", young], env=env).exit_code == 2
    old = (datetime.now(UTC) - timedelta(days=200)).date().isoformat()
    result = runner.invoke(cli, ["audit", "archive", "--before", old], env=env)
    assert result.exit_code == 0, result.output
    assert "已归档 2 条审计记录" in result.output
    assert runner.invoke(cli, ["audit", "verify"], env=env).exit_code == 0

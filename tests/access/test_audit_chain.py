"""The audit chain: durable group commit, and verify detecting an edited, a deleted and a cut-off row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from psycopg import pq
from typer.testing import CliRunner

from hub import pg
from hub.audit.chain import Entry, canonical, sm3
from hub.audit.verify import verify
from hub.audit.writer import AuditLog
from hub.db import Pools
from tests.conftest import Databases

KEY = sm3(b"test anchor key")


def _entry(i: int) -> Entry:
    return Entry(
        at=datetime.now(UTC),
        request_id=f"req{i:08d}",
        actor_kind="person",
        actor=f"acct-{i}",
        client_id="portal-web",
        channel="portal",
        action="person.overview",
        target_type="person",
        target_id=str(1000 + i),
        purpose="query",
        result="ok",
        ip="127.0.0.1",
    )


async def _write(dbs: Databases, n: int, anchor_every: int, key: bytes = KEY) -> str:
    pools = await Pools.open(dbs.hub_url, dbs.query_url, size=4)
    try:
        log = AuditLog(pools.hub, anchor_key=key, anchor_every=anchor_every)
        await log.start()
        # Concurrent appends share commits; every one returns only once its record is stored.
        await asyncio.gather(*(log.append(_entry(i)) for i in range(n)))
        await log.close()
        return log.chain_id
    finally:
        await pools.close()


def _round_trips(trace: str) -> int:
    """Round trips in a libpq protocol trace: each ends with the client's Sync (extended protocol) or is
    one Query message (simple protocol)."""
    sent = [line.split("\t") for line in trace.splitlines()]
    return sum(1 for fields in sent if len(fields) > 2 and fields[0] == "F" and fields[2].startswith(("Sync", "Query")))


def test_a_batch_is_one_statement_in_one_round_trip(dbs: Databases, tmp_path: Path) -> None:
    """Seven concurrent records share one batch, stored by one statement: no BEGIN, no COMMIT."""
    trace_file = tmp_path / "libpq.trace"

    async def scenario() -> tuple[str, int]:
        pools = await Pools.open(dbs.hub_url, dbs.query_url, size=1)  # one connection: the one traced
        try:
            log = AuditLog(pools.hub, anchor_key=KEY, anchor_every=1000, anchor_interval=3600)  # no anchor now
            await log.start()
            with trace_file.open("w") as out:
                async with pools.hub.connection() as conn:
                    conn.pgconn.trace(out.fileno())
                    conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                await asyncio.gather(*(log.append(_entry(i)) for i in range(7)))
                async with pools.hub.connection() as conn:
                    conn.pgconn.untrace()
            trips = _round_trips(trace_file.read_text())
            await log.close()
            return log.chain_id, trips
        finally:
            await pools.close()

    chain, trips = asyncio.run(scenario())
    assert trips == 1
    with pg.connect(dbs.hub_url) as conn:
        rows = conn.execute(
            "select seq, request_id, ip from hub.audit_log where chain_id = %s order by seq", (chain,)
        ).fetchall()
    assert rows == [(i + 1, f"req{i:08d}", "127.0.0.1") for i in range(7)]
    assert _findings(dbs) == set()


def _tamper(dbs: Databases, statement: str) -> None:
    with pg.connect(dbs.hub_url) as conn:
        conn.execute("set session_replication_role = replica")  # a DBA bypassing the append-only triggers
        conn.execute(statement)
        conn.commit()


def _findings(dbs: Databases) -> set[tuple[int, str]]:
    with pg.connect(dbs.hub_url) as conn:
        _, found = verify(conn, KEY)
    return {(f.seq, f.kind) for f in found}


def test_an_intact_chain_verifies_and_updates_are_refused(dbs: Databases) -> None:
    chain = asyncio.run(_write(dbs, 30, anchor_every=10))
    with pg.connect(dbs.hub_url) as conn:
        rows, found = verify(conn, KEY)
        assert (rows, found) == (30, [])
        anchors = conn.execute("select seq from hub.audit_anchor where chain_id = %s order by seq", (chain,)).fetchall()
        assert anchors[-1] == (30,)
        # Group commit: the 30 concurrent appends shared transactions (rows of one insert share xmin).
        commits = conn.execute("select count(distinct xmin::text) from hub.audit_log").fetchone()
        assert commits is not None and cast(int, commits[0]) < 30  # count(): bigint
        conn.rollback()
        try:
            conn.execute("update hub.audit_log set result = 'x'")
            raise AssertionError("update must be refused")
        except Exception as exc:
            assert "append-only" in str(exc)


def test_verify_detects_an_edited_row(dbs: Databases) -> None:
    asyncio.run(_write(dbs, 12, anchor_every=5))
    _tamper(dbs, "update hub.audit_log set target_id = '999' where seq = 4")
    assert (4, "edited") in _findings(dbs)


def test_verify_detects_a_deleted_row(dbs: Databases) -> None:
    asyncio.run(_write(dbs, 12, anchor_every=5))
    _tamper(dbs, "delete from hub.audit_log where seq = 7")
    assert (7, "missing") in _findings(dbs)


def test_verify_detects_a_cut_tail(dbs: Databases) -> None:
    asyncio.run(_write(dbs, 12, anchor_every=5))
    _tamper(dbs, "delete from hub.audit_log where seq > 9")
    assert (12, "truncated") in _findings(dbs)


def test_verify_detects_a_rewritten_chain_by_its_anchor(dbs: Databases) -> None:
    """Someone who recomputes every hash after an edit still cannot forge the signed anchor."""
    from hub.audit.chain import link
    from hub.audit.verify import _COLUMNS, _entry

    asyncio.run(_write(dbs, 6, anchor_every=100))
    with pg.connect(dbs.hub_url) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute("update hub.audit_log set result = 'denied' where seq = 2")
        rows = conn.execute(f"select {_COLUMNS} from hub.audit_log order by seq").fetchall()
        prev = b"\x00" * 32
        for row in rows:
            rec = link(cast(str, row[0]), cast(int, row[1]), _entry(row), prev)  # chain_id: text, seq: bigint
            conn.execute(
                "update hub.audit_log set prev_hash = %s, hash = %s where chain_id = %s and seq = %s",
                (rec.prev_hash, rec.hash, row[0], row[1]),
            )
            prev = rec.hash
        conn.commit()
    found = _findings(dbs)
    assert (6, "edited") in found and not any(kind == "missing" for _, kind in found)


def test_hub_audit_verify_command(dbs: Databases) -> None:
    import typer

    from gateway import cli_audit
    from gateway.api import DEV_ANCHOR_KEY

    asyncio.run(_write(dbs, 8, anchor_every=4, key=DEV_ANCHOR_KEY))
    app = typer.Typer()
    cli_audit.register(app)
    app.command("noop")(lambda: None)
    env = {
        "HUB_CORE_DB_URL": dbs.core_url,
        "HUB_HUB_DB_URL": dbs.hub_url,
        "HUB_QUERY_DB_URL": dbs.query_url,
    }
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    _tamper(dbs, "delete from hub.audit_log where seq = 3")
    bad = runner.invoke(app, ["audit", "verify"], env=env)
    assert bad.exit_code == 1, bad.output
    assert "missing" in bad.output


def test_reads_fail_closed_when_the_audit_log_cannot_be_written(province: object) -> None:
    """No audit record, no answer: a hub DB without the audit tables turns personal reads into 503."""
    from tests.api.actors import cast
    from tests.api.conftest import Province, make_api

    assert isinstance(province, Province)
    c = cast(province)
    # The core database has no hub schema: every audit insert fails.
    with make_api(province.core_url, province.query_url, province.core_url, province.redis_url, own_keys=True) as api:
        r = api.get(c.actors["person_a"], f"/api/v1/persons/{c.a}/overview")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "id_number" not in r.text


def _anchored(dbs: Databases, chain_id: str) -> int:
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute("select max(seq) from hub.audit_anchor where chain_id = %s", (chain_id,)).fetchone()
    return cast(int, row[0]) if row and row[0] is not None else 0  # max(seq): bigint


def test_an_idle_process_anchors_its_tail_on_a_timer(dbs: Databases) -> None:
    """No batch threshold reached and no shutdown: the timer still signs the tail, so a cut is detected."""
    from hub.audit import sync_writer

    other_chain = "test-sync-chain"

    async def scenario() -> tuple[str, int, int]:
        pools = await Pools.open(dbs.hub_url, dbs.query_url, size=2)
        try:
            log = AuditLog(pools.hub, anchor_key=KEY, anchor_every=1000, anchor_interval=0.05)
            await log.start(also_anchor=(other_chain,))
            for i in range(5):
                await log.append(_entry(i))
            # A synchronous writer of this process (identity events) appends to its own chain meanwhile.
            with pg.connect(dbs.hub_url) as conn:
                for i in range(3):
                    sync_writer.append(conn, _entry(100 + i), chain_id=other_chain)
                conn.commit()
            # Idle now. Wait (bounded) until the timer has signed both heads; the process keeps running.
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline:
                if _anchored(dbs, log.chain_id) == 5 and _anchored(dbs, other_chain) == 3:
                    break
                await asyncio.sleep(0.05)
            seen = (_anchored(dbs, log.chain_id), _anchored(dbs, other_chain))
            # Crash-like end: the tasks die without close(), so no shutdown anchor is written.
            assert log._timer is not None
            log._timer.cancel()
            return log.chain_id, *seen
        finally:
            await pools.close()

    chain, own, other = asyncio.run(scenario())
    assert (own, other) == (5, 3)
    assert _findings(dbs) == set()
    _tamper(dbs, f"delete from hub.audit_log where chain_id = '{chain}' and seq > 3")
    _tamper(dbs, f"delete from hub.audit_log where chain_id = '{other_chain}' and seq = 3")
    with pg.connect(dbs.hub_url) as conn:
        _, found = verify(conn, KEY)
    assert {(f.chain_id, f.kind) for f in found} == {(chain, "truncated"), (other_chain, "truncated")}
    # The newest anchor of each chain reports the cut (an earlier batch anchor above seq 3 may as well).
    assert max(f.seq for f in found if f.chain_id == chain) == 5
    assert {f.seq for f in found if f.chain_id == other_chain} == {3}


def test_the_timer_writes_nothing_while_nothing_happens(dbs: Databases) -> None:
    async def scenario() -> int:
        pools = await Pools.open(dbs.hub_url, dbs.query_url, size=2)
        try:
            log = AuditLog(pools.hub, anchor_key=KEY, anchor_interval=0.02)
            await log.start(also_anchor=("nobody-writes-here",))
            await log.append(_entry(1))
            for _ in range(20):  # many ticks, one record: exactly one anchor
                await asyncio.sleep(0.02)
            await log.close()
            with pg.connect(dbs.hub_url) as conn:
                row = conn.execute("select count(*) from hub.audit_anchor").fetchone()
            return cast(int, row[0]) if row else -1  # count(): bigint
        finally:
            await pools.close()

    assert asyncio.run(scenario()) == 1


def test_canonical_form_is_the_fields_in_order_as_json() -> None:
    """The bytes each record's hash covers, written out by hand: records already stored stay verifiable."""
    entry = Entry(
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        request_id="r1",
        actor_kind="person",
        actor="acc-1",
        client_id="app-12333",
        channel="app",
        action="person.overview",
        target_type="person",
        target_id="42",
        purpose="query",
        result="ok",
        ip=None,
    )
    assert canonical("c1", 7, entry) == (
        b'["c1",7,"2026-01-02T03:04:05+00:00","r1","person","acc-1","app-12333","app",'
        b'"person.overview","person","42","query","ok",null]'
    )

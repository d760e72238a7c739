"""The auditor's chain verification as a background job, on a real hub DB: the job walks the chains in
batches and finds what ``hub audit verify`` finds (an edited row, a deleted one, a cut tail), a second start
while one is queued returns it (also when two start at once), only the auditor starts or reads it, a worker
that dies midway leaves it to the next worker once its lease runs out (no row counted twice), an error that
would recur fails it, and ``hub audit run`` killed with SIGKILL midway leaves a job another one finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.audit import sync_writer, verify_job
from hub.audit.chain import Entry, sign_anchor
from hub.audit.verify import Finding, verify
from hub.config.audit import AuditSettings
from hub.identity import admin
from hub.identity.refusals import Refused
from tests.conftest import Databases
from tests.identity.idkit import T0

KEY = b"k" * 32
LEASE = timedelta(seconds=60)
AUDITOR = Subject(SubjectKind.STAFF, "acc_auditor", "portal-web", Channel.PORTAL, roles=frozenset({StaffRole.AUDITOR}))


def _chain(conn: psycopg.Connection[Any], chain_id: str, rows: int, anchors: tuple[int, ...] = ()) -> None:
    """``rows`` records on ``chain_id`` (seq 1..rows), and anchors signed over the heads at ``anchors``."""
    heads: dict[int, bytes] = {}
    for i in range(rows):
        entry = Entry(at=T0, request_id="", actor_kind="system", actor="t", client_id="", channel="",
                      action="test.row", target_type="test", target_id=f"{chain_id}-{i + 1}", purpose="test",
                      result="ok", ip=None)  # fmt: skip
        rec = sync_writer.append(conn, entry, chain_id=chain_id)
        heads[rec.seq] = rec.hash
    for seq in anchors:
        conn.execute(
            "insert into hub.audit_anchor (chain_id, seq, hash, signed_at, key_id, signature) "
            "values (%s, %s, %s, %s, 'test', %s)",
            (chain_id, seq, heads[seq], T0, sign_anchor(KEY, chain_id, seq, heads[seq])),
        )


def _log(dbs: Databases, *chains: tuple[str, int, tuple[int, ...]]) -> None:
    with pg.connect(dbs.hub_url) as conn:
        for chain_id, rows, anchors in chains:
            _chain(conn, chain_id, rows, anchors)
        conn.commit()


def _rows_in_log(dbs: Databases) -> int:
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute("select count(*) from hub.audit_log").fetchone()
    assert row is not None
    return cast(int, row[0])  # count(*) is a bigint


def _start(dbs: Databases, now: datetime = T0) -> int:
    """A job as the auditor's page starts it, without the page's audit record (so that the rows to check
    are exactly the test's own)."""
    with pg.connect(dbs.hub_url) as conn:
        job, _ = verify_job.start(conn, "acc_auditor", now)
        conn.commit()
    return job.id


def _job(dbs: Databases, job_id: int) -> verify_job.Job:
    with pg.connect(dbs.hub_url) as conn:
        job = verify_job.get(conn, job_id)
    assert job is not None
    return job


def _run_to_end(dbs: Databases, *, batch: int, now: datetime = T0, owner: str = "w1") -> int:
    settings = AuditSettings(verify_batch_rows=batch)
    with pg.connect(dbs.hub_url) as conn:
        job_id = verify_job.claim(conn, owner, now, LEASE)
        assert job_id is not None
        verify_job.run_job(conn, job_id, owner, KEY, settings, threading.Event(), clock=lambda: now)
    return job_id


def test_the_job_finds_an_edited_a_deleted_and_a_cut_off_row(dbs: Databases) -> None:
    _log(dbs, ("t-a", 12, (10,)), ("t-b", 6, (6,)))
    with pg.connect(dbs.hub_url) as conn:  # a DBA bypassing the append-only triggers
        conn.execute("set session_replication_role = replica")
        conn.execute("update hub.audit_log set result = 'refused' where chain_id = 't-a' and seq = 4")
        conn.execute("delete from hub.audit_log where chain_id = 't-b' and seq in (3, 6)")
        conn.commit()
    job_id = _start(dbs)
    assert _run_to_end(dbs, batch=5) == job_id
    job = _job(dbs, job_id)
    # By hand: t-a's row 4 no longer matches its hash (its successor still links to the stored hash); t-b
    # jumps from 2 to 4 (row 3 missing) and ends at 5 while an anchor signed 6 (cut off).
    expected = [
        Finding("t-a", 4, "edited", "record content does not match its hash"),
        Finding("t-b", 3, "missing", "rows 3..3 are missing"),
        Finding("t-b", 6, "truncated", "chain ends at 5, anchor signed 6"),
    ]
    assert job.state == "done" and job.finished_at == T0
    assert (job.rows_total, job.rows_checked, job.chains_checked) == (16, 16, 2)  # 12 + 6 − 2 deleted
    assert job.findings == 3 and list(job.finding_list) == expected and job.broken == expected[0]
    assert not job.intact
    # The same as `hub audit verify`, whose walk it shares (which now also sees the job's own record).
    with pg.connect(dbs.hub_url) as conn:
        rows, findings = verify(conn, KEY)
    assert (rows, findings) == (16 + 1, expected)
    # The outcome is in the audit chain, by the auditor who started it.
    with pg.connect(dbs.hub_url) as conn:
        done = conn.execute("select actor, result, purpose from hub.audit_log where action = 'audit.verify'").fetchall()
    assert done == [("acc_auditor", "findings", f"job:{job_id}:16:3")]


def test_an_intact_log_and_an_anchor_signed_with_another_key(dbs: Databases) -> None:
    _log(dbs, ("t-a", 7, (3, 7)))
    job_id = _start(dbs)
    _run_to_end(dbs, batch=2)  # 4 batches for 7 rows: the walk carries its position between them
    job = _job(dbs, job_id)
    assert job.intact and (job.rows_checked, job.findings, job.broken) == (7, 0, None)
    with pg.connect(dbs.hub_url) as conn:
        conn.execute(
            "insert into hub.audit_anchor (chain_id, seq, hash, signed_at, key_id, signature) "
            "select chain_id, 5, hash, signed_at, 'other', %s from hub.audit_anchor where chain_id = 't-a' "
            "and seq = 3",
            (b"\x00" * 32,),
        )
        conn.commit()
    second = _start(dbs)
    assert second != job_id  # the first one is done: a new job
    _run_to_end(dbs, batch=2)
    assert list(_job(dbs, second).finding_list) == [Finding("t-a", 5, "bad_anchor", "anchor signature is not valid")]


def test_starting_twice_returns_the_running_job_even_at_the_same_moment(dbs: Databases) -> None:
    def start() -> int:
        with pg.connect(dbs.hub_url) as conn:
            job = admin.start_verification(conn, AUDITOR, now=T0)
            conn.commit()
        return job.id

    first = start()
    assert start() == first
    with pg.connect(dbs.hub_url) as conn:
        started = conn.execute(
            "select result, purpose from hub.audit_log where action = 'audit.verify_start' order by seq"
        ).fetchall()
    assert started == [("ok", f"job:{first}"), ("already_running", f"job:{first}")]
    _run_to_end(dbs, batch=100)
    # Two starts at once: the second waits on the one-active-job index until the first commits, then finds it.
    with pg.connect(dbs.hub_url) as a, pg.connect(dbs.hub_url) as b:
        job_a, created_a = verify_job.start(a, "acc_a", T0)
        out: list[tuple[verify_job.Job, bool]] = []
        waiter = threading.Thread(target=lambda: out.append(verify_job.start(b, "acc_b", T0)))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()  # blocked on the first one's uncommitted row
        a.commit()
        waiter.join(30)
        b.commit()
    assert created_a and out and out[0][0].id == job_a.id and out[0][1] is False
    with pg.connect(dbs.hub_url) as conn:
        active = conn.execute("select count(*) from hub.audit_verify_job where state = 'queued'").fetchone()
    assert active == (1,)


def test_only_the_auditor_starts_or_reads_a_job(dbs: Databases) -> None:
    for role in (StaffRole.SYSTEM_ADMIN, StaffRole.SECURITY_ADMIN, StaffRole.OPERATOR, StaffRole.REVIEWER):
        other = Subject(SubjectKind.STAFF, "acc_other", "portal-web", Channel.PORTAL, roles=frozenset({role}))
        with pg.connect(dbs.hub_url) as conn:
            with pytest.raises(Refused):
                admin.start_verification(conn, other, now=T0)
            with pytest.raises(Refused):
                admin.verification(conn, other)
    with pg.connect(dbs.hub_url) as conn:
        assert conn.execute("select count(*) from hub.audit_verify_job").fetchone() == (0,)


def test_a_worker_that_dies_midway_leaves_the_job_to_the_next_once_its_lease_runs_out(dbs: Databases) -> None:
    _log(dbs, ("t-a", 9, (9,)), ("t-b", 4, ()))
    job_id = _start(dbs)
    settings = AuditSettings(verify_batch_rows=3, verify_lease_seconds=LEASE.total_seconds())
    with pg.connect(dbs.hub_url) as conn:
        assert verify_job.claim(conn, "dead", T0, LEASE) == job_id
        assert verify_job.step(conn, job_id, "dead", KEY, T0, settings) is False
        assert verify_job.step(conn, job_id, "dead", KEY, T0 + timedelta(seconds=5), settings) is False
    # The worker "dies" here, after 6 of t-a's rows: the job stays running with a lease until T0 + 65 s.
    job = _job(dbs, job_id)
    assert (job.state, job.rows_checked, job.chains_checked) == ("running", 6, 0)
    with pg.connect(dbs.hub_url) as conn:
        assert verify_job.claim(conn, "next", T0 + timedelta(seconds=64), LEASE) is None  # still leased
        assert verify_job.claim(conn, "next", T0 + timedelta(seconds=66), LEASE) == job_id
        # The dead worker, should it wake up, no longer owns the job and writes nothing.
        assert verify_job.step(conn, job_id, "dead", KEY, T0 + timedelta(seconds=67), settings) is True
        assert _job(dbs, job_id).rows_checked == 6
        verify_job.run_job(conn, job_id, "next", KEY, settings, threading.Event(), clock=lambda: T0)
    job = _job(dbs, job_id)
    assert job.intact and (job.rows_checked, job.chains_checked) == (13, 2)  # 9 + 4, none counted twice


def test_an_error_that_would_recur_fails_the_job(dbs: Databases) -> None:
    _log(dbs, ("t-a", 3, (3,)))
    job_id = _start(dbs)
    with pg.connect(dbs.hub_url) as conn:
        assert verify_job.claim(conn, "w", T0, LEASE) == job_id
        bad_key: Any = "not bytes"  # the anchor check cannot sign with it
        verify_job.run_job(conn, job_id, "w", bad_key, AuditSettings(), threading.Event(), clock=lambda: T0)
    job = _job(dbs, job_id)
    assert (job.state, job.error, job.finished_at) == ("failed", "TypeError", T0)
    assert _start(dbs) != job_id  # a failed job is not active: the auditor starts another


def _cli_env(dbs: Databases, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HUB_CORE_DB_URL": dbs.core_url,
        "HUB_HUB_DB_URL": dbs.hub_url,
        "HUB_QUERY_DB_URL": dbs.query_url,
        "HUB_REDIS_URL": dbs.redis_url,
        "HUB_ENVIRONMENT": "test",
        "HUB_AUDIT__VERIFY_POLL_SECONDS": "0.2",
        **extra,
    }


def _wait_for(dbs: Databases, job_id: int, states: tuple[str, ...], *, min_rows: int = 0, limit: float = 120) -> None:
    deadline = time.monotonic() + limit  # a bound on a hang, not a speed requirement
    while time.monotonic() < deadline:
        job = _job(dbs, job_id)
        if job.state in states and job.rows_checked >= min_rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {states} (now {_job(dbs, job_id)})")


def test_hub_audit_run_killed_midway_leaves_a_job_another_worker_finishes(dbs: Databases) -> None:
    # 6,000 rows on 3 chains, checked 10 rows per transaction, so a SIGKILL lands in the middle.
    with pg.connect(dbs.hub_url) as conn:
        for n, chain_id in enumerate(("t-a", "t-b", "t-c")):
            conn.execute("insert into hub.audit_chain (chain_id, host) values (%s, 'test')", (chain_id,))
            _chain(conn, chain_id, 2000, (1000 + n, 2000))
        conn.commit()
    job_id = _start(dbs, datetime.now(UTC))
    env = _cli_env(dbs, HUB_AUDIT__VERIFY_BATCH_ROWS="10", HUB_AUDIT__VERIFY_LEASE_SECONDS="2")
    cmd = [str(Path(sys.executable).parent / "hub"), "audit", "run"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(dbs, job_id, ("running",), min_rows=500)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = _job(dbs, job_id)
    assert killed_at.state == "running" and 0 < killed_at.rows_checked < 6000
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(dbs, job_id, ("done", "failed"))
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    job = _job(dbs, job_id)
    # The anchor key of these rows is not the worker's (a development key): every anchor reads as badly
    # signed, and nothing else does: 6 findings, and each of the 6,000 rows counted exactly once.
    assert job.state == "done" and (job.rows_checked, job.chains_checked) == (6000, 3)
    assert [f.kind for f in job.finding_list] == ["bad_anchor"] * 6
    assert second.returncode == 0

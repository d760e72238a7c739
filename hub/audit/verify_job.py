"""The auditor's chain verification as a background job (``hub.audit_verify_job``), run by ``hub audit run``.

The auditor starts a job from ``/portal/admin`` (``start``: a second start while one is queued or running
returns that one); a worker claims it with a lease (``claim``) and walks the chains in batches (``step``:
one transaction each, with the walk of ``hub.audit.verify`` — the same checks as ``hub audit verify``),
saving its position, progress and findings with every batch and renewing its lease. A worker that dies
leaves the job ``running`` with a lease that runs out; the next worker to claim it continues from the
last saved batch. Each chain is checked as it was when its walk began (its head and its last anchor
then), so records and anchors added meanwhile are left to the next run instead of being reported as cut.

The result: rows checked, chains checked, how many findings, the first broken link and the first hundred
findings; ``hub audit verify`` remains the full report. The outcome joins the audit chain as
``audit.verify`` in the transaction that finishes the job.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from hub import pg
from hub.audit import sync_writer
from hub.audit.chain import GENESIS
from hub.audit.verify import Finding, Walk, chain_ids, check_anchors, read_rows
from hub.config.audit import AuditSettings

log = logging.getLogger("hub.audit.verify_job")

FINDINGS_KEPT = 100
ACTIVE = ("queued", "running")

_JOB_COLUMNS = (
    "id, started_by, started_at, state, rows_total, rows_checked, chains_checked, findings, broken_chain, "
    "broken_seq, broken_kind, broken_detail, finding_list, error, finished_at"
)


@dataclass(frozen=True)
class Job:
    id: int
    started_by: str
    started_at: datetime
    state: str  # queued | running | done | failed
    rows_total: int | None
    rows_checked: int
    chains_checked: int
    findings: int
    broken: Finding | None  # the first broken link
    finding_list: tuple[Finding, ...]
    error: str | None
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def intact(self) -> bool:
        return self.state == "done" and self.findings == 0


def _job(row: tuple[Any, ...]) -> Job:
    broken = Finding(row[8], int(row[9]), row[10], row[11]) if row[8] is not None else None
    kept = tuple(Finding(f["chain_id"], int(f["seq"]), f["kind"], f["detail"]) for f in row[12] or ())
    return Job(
        id=int(row[0]), started_by=row[1], started_at=row[2], state=row[3],
        rows_total=None if row[4] is None else int(row[4]), rows_checked=int(row[5]), chains_checked=int(row[6]),
        findings=int(row[7]), broken=broken, finding_list=kept, error=row[13], finished_at=row[14],
    )  # fmt: skip


def get(conn: psycopg.Connection[Any], job_id: int) -> Job | None:
    row = conn.execute(f"select {_JOB_COLUMNS} from hub.audit_verify_job where id = %s", (job_id,)).fetchone()
    return _job(row) if row else None


def latest(conn: psycopg.Connection[Any]) -> Job | None:
    row = conn.execute(
        f"select {_JOB_COLUMNS} from hub.audit_verify_job order by started_at desc, id desc limit 1"
    ).fetchone()
    return _job(row) if row else None


def start(conn: psycopg.Connection[Any], started_by: str, now: datetime) -> tuple[Job, bool]:
    """A new queued job, or the one already queued or running: (job, whether it is new). Never commits.

    At most one job is active (a partial unique index): of two starts at once, one inserts and the other
    finds it once the first commits.
    """
    while True:
        conn.execute("savepoint verify_job_start")
        try:
            row = conn.execute(
                f"insert into hub.audit_verify_job (started_by, started_at) values (%s, %s) returning {_JOB_COLUMNS}",
                (started_by, now),
            ).fetchone()
        except psycopg.errors.UniqueViolation:
            conn.execute("rollback to savepoint verify_job_start")
            row = None
        else:
            conn.execute("release savepoint verify_job_start")
            assert row is not None
            return _job(row), True
        found = conn.execute(
            f"select {_JOB_COLUMNS} from hub.audit_verify_job where state in ('queued', 'running')"
        ).fetchone()
        if found is not None:
            return _job(found), False
        # The active job finished in between: try again.


def claim(conn: psycopg.Connection[Any], owner: str, now: datetime, lease: timedelta) -> int | None:
    """Take the oldest queued job, or a running one whose worker's lease ran out; its id. Commits."""
    row = conn.execute(
        "update hub.audit_verify_job set state = 'running', lease_owner = %(o)s, lease_until = %(until)s "
        "where id = (select id from hub.audit_verify_job where state = 'queued' "
        "or (state = 'running' and (lease_until is null or lease_until < %(now)s)) "
        "order by id limit 1 for update skip locked) returning id",
        {"o": owner, "until": now + lease, "now": now},
    ).fetchone()
    conn.commit()
    return int(row[0]) if row else None


def _chain_start(conn: psycopg.Connection[Any], chain_id: str) -> tuple[int | None, int]:
    """(last anchor, head) of a chain now. The anchor is read first: an anchor is written only after the
    rows it signs, so every row up to it is there when the head is read."""
    anchor = conn.execute("select max(seq) from hub.audit_anchor where chain_id = %s", (chain_id,)).fetchone()
    head = conn.execute(
        "select greatest((select max(seq) from hub.audit_log where chain_id = %(c)s), "
        "(select max(seq) from hub.audit_log_archive where chain_id = %(c)s))",
        {"c": chain_id},
    ).fetchone()
    return (
        None if anchor is None or anchor[0] is None else int(anchor[0]),
        0 if head is None or head[0] is None else int(head[0]),
    )


EXACT_COUNT_BELOW = 1_000_000


def _rows_total(conn: psycopg.Connection[Any]) -> int:
    """The records to check, for the progress bar: the planner's estimate for a large log (a count of a
    hundred million rows would hold the first batch for a long time), an exact count for a small one."""
    row = conn.execute(
        "select coalesce(sum(greatest(reltuples, 0)), 0) from pg_class "
        "where oid in ('hub.audit_log'::regclass, 'hub.audit_log_archive'::regclass)"
    ).fetchone()
    estimate = int(row[0]) if row else 0
    if estimate >= EXACT_COUNT_BELOW:
        return estimate
    total = conn.execute(
        "select (select count(*) from hub.audit_log) + (select count(*) from hub.audit_log_archive)"
    ).fetchone()
    return int(total[0]) if total else 0


def _finding_json(f: Finding) -> dict[str, Any]:
    return {"chain_id": f.chain_id, "seq": f.seq, "kind": f.kind, "detail": f.detail}


def step(
    conn: psycopg.Connection[Any], job_id: int, owner: str, key: bytes | None, now: datetime, settings: AuditSettings
) -> bool:
    """One batch of the job's walk in one transaction, its lease renewed; True when the job needs no more
    steps from this worker (finished, or claimed by another worker after this one's lease ran out). Commits.
    """
    row = conn.execute(
        "select state, lease_owner, rows_total, cur_chain, cur_expected, cur_prev, cur_head, cur_anchor_bound, "
        "findings, finding_list, started_by from hub.audit_verify_job where id = %s for update",
        (job_id,),
    ).fetchone()
    if row is None or row[0] != "running" or row[1] != owner:
        conn.rollback()
        return True
    rows_total, chain, expected, prev, head, anchor_bound = row[2], row[3], row[4], row[5], row[6], row[7]
    findings_count, kept, started_by = int(row[8]), list(row[9] or ()), str(row[10])
    found: list[Finding] = []
    checked = 0
    chains_done = 0
    if rows_total is None:  # the first step: how many rows there are, for the progress bar
        rows_total = _rows_total(conn)
        first = chain_ids(conn)
        chain = first[0] if first else None
        if chain is not None:
            anchor_bound, head = _chain_start(conn, chain)
            expected, prev = 1, GENESIS
    finished = chain is None
    if chain is not None:
        walk = Walk(chain, int(expected), bytes(prev))
        rows = read_rows(conn, chain, after=walk.last_seq, up_to=head, limit=settings.verify_batch_rows)
        found += walk.check(rows)
        checked = walk.rows
        expected, prev = walk.expected, walk.prev
        if len(rows) < settings.verify_batch_rows or walk.last_seq >= int(head):
            if walk.last_seq < int(head):  # rows between the last one found and the head are gone
                found.append(Finding(chain, walk.expected, "missing", f"rows {walk.expected}..{head} are missing"))
            found += check_anchors(conn, chain, walk.last_seq, key, up_to=anchor_bound)
            chains_done = 1
            following = chain_ids(conn, after=chain)
            chain = following[0] if following else None
            if chain is None:
                finished = True
            else:
                anchor_bound, head = _chain_start(conn, chain)
                expected, prev = 1, GENESIS
    first_broken = found[0] if found and findings_count == 0 else None
    kept += [_finding_json(f) for f in found[: max(0, FINDINGS_KEPT - len(kept))]]
    conn.execute(
        "update hub.audit_verify_job set rows_total = %(total)s, rows_checked = rows_checked + %(rows)s, "
        "chains_checked = chains_checked + %(chains)s, findings = findings + %(found)s, "
        "broken_chain = coalesce(broken_chain, %(bc)s), broken_seq = coalesce(broken_seq, %(bs)s), "
        "broken_kind = coalesce(broken_kind, %(bk)s), broken_detail = coalesce(broken_detail, %(bd)s), "
        "finding_list = %(kept)s, cur_chain = %(chain)s, cur_expected = %(exp)s, cur_prev = %(prev)s, "
        "cur_head = %(head)s, cur_anchor_bound = %(ab)s, lease_until = %(until)s, "
        "state = case when %(finished)s then 'done' else state end, "
        "finished_at = case when %(finished)s then %(now)s end, "
        "lease_owner = case when %(finished)s then null else lease_owner end "
        "where id = %(id)s",
        {
            "total": rows_total, "rows": checked, "chains": chains_done, "found": len(found),
            "bc": first_broken.chain_id if first_broken else None, "bs": first_broken.seq if first_broken else None,
            "bk": first_broken.kind if first_broken else None, "bd": first_broken.detail if first_broken else None,
            "kept": Jsonb(kept), "chain": chain, "exp": expected, "prev": prev, "head": head, "ab": anchor_bound,
            "until": now + timedelta(seconds=settings.verify_lease_seconds), "finished": finished, "now": now,
            "id": job_id,
        },
    )  # fmt: skip
    if finished:
        done = get(conn, job_id)
        assert done is not None
        sync_writer.event(
            conn, "audit.verify", "ok" if done.findings == 0 else "findings", at=now, actor_kind="staff",
            actor=started_by, target_type="audit", target_id="*",
            purpose=f"job:{job_id}:{done.rows_checked}:{done.findings}",
        )  # fmt: skip
    conn.commit()
    return finished


def fail(conn: psycopg.Connection[Any], job_id: int, owner: str, error: str, now: datetime) -> None:
    """Mark the job failed (an error that another attempt would meet again). Commits."""
    conn.rollback()
    conn.execute(
        "update hub.audit_verify_job set state = 'failed', error = %s, finished_at = %s, lease_owner = null "
        "where id = %s and lease_owner = %s and state = 'running'",
        (error[:200], now, job_id, owner),
    )
    conn.commit()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"


def run_job(
    conn: psycopg.Connection[Any],
    job_id: int,
    owner: str,
    key: bytes | None,
    settings: AuditSettings,
    stop: threading.Event,
    clock: Callable[[], datetime] = _utc_now,
) -> None:
    """Step a claimed job until it is finished, lost or ``stop`` is set. A connection lost on the way is
    raised (the lease runs out and the job is resumed); any other error fails the job."""
    while not stop.is_set():
        try:
            if step(conn, job_id, owner, key, clock(), settings):
                return
        except psycopg.OperationalError:
            raise
        except Exception as exc:
            log.error("audit verification job %d failed: %s", job_id, type(exc).__name__)
            fail(conn, job_id, owner, type(exc).__name__, clock())
            return


def run(
    hub_url: str,
    key: bytes | None,
    settings: AuditSettings,
    stop: threading.Event,
    clock: Callable[[], datetime] = _utc_now,
) -> None:
    """``hub audit run``: claim and run verification jobs until ``stop`` is set; a database that restarts is
    reconnected after a pause. Safe to kill anywhere (the job resumes when its lease runs out)."""
    owner = worker_id()
    lease = timedelta(seconds=settings.verify_lease_seconds)
    while not stop.is_set():
        try:
            with pg.connect(hub_url) as conn:
                while not stop.is_set():
                    job_id = claim(conn, owner, clock(), lease)
                    if job_id is None:
                        stop.wait(settings.verify_poll_seconds)
                        continue
                    log.info("audit verification job %d claimed", job_id)
                    run_job(conn, job_id, owner, key, settings, stop, clock)
        except psycopg.OperationalError as exc:
            log.warning("audit verification worker: database unavailable (%s); retrying", type(exc).__name__)
            stop.wait(settings.verify_poll_seconds)

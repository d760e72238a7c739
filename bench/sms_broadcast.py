"""The yearly rights-statement broadcast at scale: `hub sms run` (its own process) against the test SMSC
(smpp34, in this process), receipts on, every state in the hub DB.

    .venv/bin/python -m bench.sms_broadcast --recipients 100000 --kills 10     # the crash run
    .venv/bin/python -m bench.sms_broadcast --recipients 1000000 --max-seconds 1500   # the timing

With ``--kills K`` this process SIGKILLs the worker K times at random moments while it has submits in flight
(restarting it each time), then checks what the crash test checks, at this size: no recipient got a
segment twice, every submit the SMSC counted belongs to a message the hub records as sent, delivered or
unknown, every recipient has exactly one message in an explicit state, the unknown ones are exactly those
the restarts found in flight (at most the window of every bind, per crash) and were not resent.

Without kills it measures the time from the job's start to 'done' (every message sent, delivered or failed)
and to the last receipt. When ``--max-seconds`` runs out first, it stops and reports the rate over the last
half of the run and the extrapolated total, labelled as such. Writes bench/results/sms-broadcast-….json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.sms_bench import cpu_seconds, fresh_db, machine, start_worker, stop_worker, worker_env
from hub import pg
from hub.config.sms import SmsSettings
from hub.messaging import sealed
from sms import jobs
from tests.sms.smsc import Smsc


def recipients(n: int) -> list[jobs.Recipient]:
    """Distinct mobile numbers with a realistic rights statement each (2 segments with the signature)."""
    return [
        jobs.Recipient(
            f"1{'3589'[i % 4]}{i:09d}",
            {
                "name": "张三丰",
                "year": "2025",
                "months": "12",
                "person_amount": f"{8000 + i % 997}.00",
                "to_account": f"{8000 + i % 997}.00",
                "annuity_amount": "4000.00",
            },
        )
        for i in range(n)
    ]


def one(url: str, sql: str, *args: Any) -> Any:
    with pg.connect(url) as conn:
        row = conn.execute(sql, args).fetchone()
    return row[0] if row else None


def states(url: str, job: int) -> dict[str, int]:
    with pg.connect(url) as conn:
        rows = conn.execute("select status, count(*) from hub.sms_message where job_id = %s group by 1", (job,))
        return {str(s): int(str(n)) for s, n in rows.fetchall()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=1500.0)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument(
        "--vacuum-every",
        type=float,
        default=None,
        help="seconds between `vacuum analyze` of the sms tables, as autovacuum would; 0 = never; default: 60 "
        "when the server runs without autovacuum (the shared test server does), else 0",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    n = args.recipients
    url = fresh_db()
    if args.vacuum_every is None:  # stand in for autovacuum only where the server has none
        args.vacuum_every = 60.0 if one(url, "show autovacuum") == "off" else 0.0
    smsc = Smsc().start()
    proc: subprocess.Popen[bytes] | None = None
    result: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "versions": {p: version(p) for p in ("smpplib", "smpp34", "psycopg")},
        "settings": {
            "recipients": n,
            "template": "rights_statement",
            "binds": args.binds,
            "window": args.window,
            "receipts": True,
            "job_rate_per_second": None,
            "unknown_policy": "hold",
            "kills": args.kills,
            "vacuum_every_seconds": args.vacuum_every or None,
            "worker": "`hub sms run` in its own process; the SMSC (smpp34) and this driver in another",
        },
        "load_average_before": os.getloadavg(),
    }
    try:
        t = time.monotonic()
        with pg.connect(url) as conn:
            job = jobs.create_rights_statement(conn, year=2025, created_by="op1", recipients=recipients(n))
            conn.commit()
        result["seconds_to_create_job"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        with pg.connect(url) as conn:
            preview = jobs.preview(conn, job, SmsSettings())
            jobs.approve(conn, job, "rev1")
            conn.commit()
        result["seconds_to_preview"] = round(time.monotonic() - t, 1)
        result["preview"] = {"recipients": preview.recipients, "segments": preview.segments, "cost": str(preview.cost)}
        with pg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze hub.sms_message")  # the shared server runs without autovacuum
        print(f"job {job}: {preview.recipients:,} recipients, {preview.segments:,} segments", flush=True)

        with tempfile.TemporaryDirectory() as var:
            env = worker_env(url, smsc.port, args.binds, args.window, Path(var), HUB_SMS__POLL_SECONDS="0.05")
            proc = start_worker(env)
            assert smsc.wait_for(lambda: smsc.binds >= args.binds, 60)
            with pg.connect(url) as conn:
                jobs.start(conn, job)
                conn.commit()
            started = time.monotonic()
            usage = Usage(url, proc.pid)
            vacuum_stop = threading.Event()
            vacuums: list[tuple[float, float]] = []
            if args.vacuum_every:
                threading.Thread(
                    target=vacuum_loop, args=(url, args.vacuum_every, vacuum_stop, vacuums, started), daemon=True
                ).start()
            samples: list[tuple[float, int]] = []  # seconds since the start, submits the SMSC accepted
            kills: list[dict[str, Any]] = []
            done_at = delivered_at = None
            next_kill = rnd.uniform(1, 6) if args.kills else None
            last_sample = 0.0
            while time.monotonic() - started < args.max_seconds:
                now = time.monotonic() - started
                if next_kill is not None and len(kills) < args.kills and now >= next_kill:
                    flying = int(
                        one(
                            url, "select count(*) from hub.sms_segment where acked_at is null and status = 'submitting'"
                        )
                    )
                    if flying == 0:
                        if one(url, "select status from hub.sms_job where id = %s", job) == "done":
                            next_kill = None  # finished before every kill landed: the kills made are reported
                        else:  # aim at a moment with submits in flight: try again shortly
                            next_kill = now + rnd.uniform(0.02, 0.3)
                        continue
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(30)
                    kills.append({"at_seconds": round(now, 2), "submitting_just_before": flying})
                    recoveries = len(kills)
                    proc = start_worker(env)
                    # the restarted worker has recovered (its first transaction) before the next kill is timed
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        got = one(url, "select count(*) from hub.sms_event where kind = 'recovery'")
                        if int(got) >= recoveries + 1:
                            break
                        time.sleep(0.05)
                    next_kill = time.monotonic() - started + rnd.uniform(2, 8)
                if now - last_sample >= (1.0 if n <= 200_000 else 5.0):
                    last_sample = now
                    samples.append((round(now, 2), len(smsc.submits)))
                    status = one(url, "select status from hub.sms_job where id = %s", job)
                    if status == "done" and done_at is None:
                        done_at = now
                    if done_at is not None and (len(kills) >= args.kills or next_kill is None):
                        left = one(
                            url, "select count(*) from hub.sms_message where job_id = %s and status = 'sent'", job
                        )
                        if int(left) == 0 or now - done_at > 120:
                            delivered_at = now if int(left) == 0 else None
                            break
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            result["usage"] = usage.finish(proc.pid, len(smsc.submits))
            vacuum_stop.set()
            rc = stop_worker(proc)
            proc = None
        result["worker_exit_code"] = rc
        result["vacuums"] = [{"at_seconds": a, "seconds": d} for a, d in vacuums]
        result["load_average_after"] = os.getloadavg()
        result["seconds_to_done"] = round(done_at, 1) if done_at is not None else None
        result["seconds_to_last_receipt"] = round(delivered_at, 1) if delivered_at is not None else None
        result["finished"] = done_at is not None
        result["samples"] = samples
        final = states(url, job)
        result["states"] = final
        accepted = len(smsc.submits)
        result["smsc_accepted_submits"] = accepted
        if done_at is not None:
            result["recipients_per_second"] = round(n / done_at, 1)
            result["submits_per_second"] = round(accepted / done_at, 1)
        else:
            # Not finished in time: the rate over the second half of the run, extrapolated (labelled as such).
            half = [s for s in samples if s[0] >= elapsed / 2]
            rate = (half[-1][1] - half[0][1]) / (half[-1][0] - half[0][0]) if len(half) > 1 else 0.0
            total = preview.segments
            result["extrapolated"] = {
                "note": "not finished within --max-seconds; the rest at the rate of the last half of the run",
                "submits_done": accepted,
                "submits_total": total,
                "submits_per_second_last_half": round(rate, 1),
                "estimated_seconds_to_done": round(elapsed + (total - accepted) / rate, 0) if rate else None,
            }
        if args.kills:
            result["kills"] = kills
            result.update(check_crashes(url, job, smsc, n, args.binds * args.window))
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}, ensure_ascii=False, indent=1))
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(30)
        smsc.stop()
        pg.drop_database(url)
    out = args.out or Path("bench/results") / f"sms-broadcast-{n}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(out)


_TABLES = ("sms_message", "sms_segment", "sms_receipt_orphan")


def _backends(url: str) -> dict[int, str]:
    """The worker's PostgreSQL backends (pid → application_name)."""
    with pg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select pid, application_name from pg_stat_activity "
            "where datname = current_database() and application_name like 'hub-sms%%'"
        ).fetchall()
    return {int(str(r[0])): str(r[1]) for r in rows}


def _table_counters(url: str) -> dict[str, dict[str, int]]:
    with pg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_stat_force_next_flush()")
        rows = conn.execute(
            "select relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del from pg_stat_user_tables "
            "where schemaname = 'hub' and relname = any(%s)",
            (list(_TABLES),),
        ).fetchall()
        db = conn.execute(
            "select xact_commit, pg_current_wal_lsn() - '0/0'::pg_lsn from pg_stat_database "
            "where datname = current_database()"
        ).fetchone()
    names = ("ins", "upd", "hot_upd", "del")
    out = {str(r[0]): {k: int(str(v)) for k, v in zip(names, r[1:], strict=True)} for r in rows}
    # WAL written by the whole server (other databases' work included) and this database's commits
    out["_db"] = {"xact_commit": int(str(db[0])) if db else 0, "wal_bytes": int(str(db[1])) if db else 0}
    return out


def _machine_busy() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Usage:
    """CPU of the worker process and of its PostgreSQL backends, and tuple counters, over a run without kills
    (a restarted worker has other pids: with kills only the first worker's share is counted)."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.backends = _backends(url)
        self.worker_cpu = cpu_seconds(pid)
        self.own_cpu = cpu_seconds(os.getpid())  # the SMSC (smpp34 and its proxy) and this driver
        self.backend_cpu = {b: _cpu_or_zero(b) for b in self.backends}
        self.tables = _table_counters(url)
        self.machine = _machine_busy()
        self.t = time.monotonic()

    def finish(self, pid: int, submits: int) -> dict[str, Any]:
        seconds = time.monotonic() - self.t
        worker = cpu_seconds(pid) - self.worker_cpu
        backends = {self.backends[b]: round(_cpu_or_zero(b) - c, 2) for b, c in self.backend_cpu.items()}
        busy, total = _machine_busy()
        tables = _table_counters(self.url)
        delta = {
            t: {k: v - self.tables.get(t, {}).get(k, 0) for k, v in counters.items()} for t, counters in tables.items()
        }
        per = 1000 / max(1, submits // 2)  # per 1,000 recipients (2 segments each)
        return {
            "seconds": round(seconds, 1),
            "submits": submits,
            "worker_cpu_seconds": round(worker, 2),
            "smsc_and_driver_cpu_seconds": round(cpu_seconds(os.getpid()) - self.own_cpu, 2),
            "backend_cpu_seconds": backends,
            "worker_cpu_per_1000_recipients": round(worker * per, 3),
            "postgres_backends_cpu_per_1000_recipients": round(sum(backends.values()) * per, 3),
            "machine_busy_percent": round(100 * (busy - self.machine[0]) / max(1, total - self.machine[1]), 1),
            "tuples": delta,
            "tuples_per_recipient": {t: {k: round(v * per / 1000, 2) for k, v in c.items()} for t, c in delta.items()},
        }


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def vacuum_loop(url: str, every: float, stop: threading.Event, out: list[tuple[float, float]], t0: float) -> None:
    """What autovacuum would do on a production server: dead row versions go, statistics follow the growth."""
    with pg.connect(url, autocommit=True) as conn:
        while not stop.wait(every):
            t = time.monotonic()
            conn.execute("vacuum analyze hub.sms_segment, hub.sms_message, hub.sms_receipt_orphan")
            out.append((round(t - t0, 1), round(time.monotonic() - t, 2)))


def check_crashes(url: str, job: int, smsc: Smsc, n: int, capacity: int) -> dict[str, Any]:
    """What the crash test asserts, at this size; returned as numbers and a list of violations."""
    with pg.connect(url) as conn:
        recoveries = [
            (int(str(r[0])), int(str(r[1])))
            for r in conn.execute(
                "select (detail->>'segments')::int, (detail->>'messages')::int from hub.sms_event "
                "where kind = 'recovery' order by id"
            ).fetchall()
        ]
        rows = sealed.messages(conn, "job_id = %s", (job,))  # the numbers are sealed: opened here
    hub_state = {str(r["recipient"]): str(r["status"]) for r in rows}
    segments = {str(r["recipient"]): int(r["segments"] or 0) for r in rows}
    counted = smsc.counts()
    duplicates = sum(c - 1 for c in counted.values() if c > 1)
    by_phone = Counter(dest for dest, _, _ in counted)
    violations: list[str] = []
    if duplicates:
        violations.append(f"{duplicates} segments accepted twice")
    if len(rows) != n or len(hub_state) != n:
        violations.append(f"{len(rows)} messages for {n} recipients")
    unexplained = [p for p in by_phone if hub_state.get(p) not in ("sent", "delivered", "unknown")]
    if unexplained:
        violations.append(f"{len(unexplained)} recipients counted by the SMSC but not sent/delivered/unknown")
    incomplete = [p for p, s in hub_state.items() if s in ("sent", "delivered") and by_phone[p] != segments[p]]
    if incomplete:
        violations.append(f"{len(incomplete)} sent messages whose segments the SMSC did not count once each")
    not_final = {s for s in hub_state.values()} - {"sent", "delivered", "unknown", "failed"}
    if not_final:
        violations.append(f"states left open: {sorted(not_final)}")
    unknown = sum(1 for s in hub_state.values() if s == "unknown")
    if unknown != sum(m for _, m in recoveries):
        violations.append(f"{unknown} unknown, restarts found {sum(m for _, m in recoveries)} in flight")
    if any(seg > capacity for seg, _ in recoveries):
        violations.append("a restart found more than the window in flight")
    return {
        "recoveries": [{"segments": s, "messages": m} for s, m in recoveries],
        "kills_with_submits_in_flight": sum(1 for seg, _ in recoveries[1:] if seg > 0),
        "duplicates": duplicates,
        "unknown_messages": unknown,
        "violations": violations,
    }


if __name__ == "__main__":
    main()

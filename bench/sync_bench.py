"""Sync benchmark: backfill throughput and steady-state lag, against PostgreSQL logical replication.

Run ``python -m bench.sync_bench --help``; bench/README.md explains the method. Three parts:

1. Backfill: seed a province into a scratch core database on the shared server, migrate a scratch
   query store, run ``sync.backfill.backfill`` several times; rows/s = read-model rows written / seconds.
2. Lag: a paced load generator writes small ac43 transactions into the core while ``hub sync run``
   works in its own process; a poller process watches the query store and records when each inserted
   detail_id first becomes visible. lag = first seen − commit returned on the generator side.
3. Baseline: the same load and the same measurement on a private PostgreSQL 15 cluster
   (wal_level=logical), once with the hub worker and once with a logical-replication subscription
   of core.ac43 into a second database of that cluster.

All scratch databases are dropped and the private cluster is stopped and deleted at the end, also on
error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from multiprocessing.connection import Connection as PipeEnd
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from hub import pg

console = Console(width=None if sys.stdout.isatty() else 150)

RESULTS_DIR = Path(__file__).parent / "results"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SHARED_URL = os.environ.get("BENCH_SHARED_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_ROWS_PER_S = 100_000
RNG_SEED = 20261127
# detail_ids written by the load generator start far above anything the seed generates.
LOAD_ID_BASE = 9_000_000_000_000
# Server settings copied from the shared server to the private cluster, so that both differ only in
# what logical replication needs.
MIRRORED_SETTINGS = (
    "shared_buffers",
    "autovacuum",
    "max_wal_size",
    "min_wal_size",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "checkpoint_timeout",
    "max_connections",
    "work_mem",
    "maintenance_work_mem",
)
# Polls are sent unprepared and the poller's session disables the other scan kinds (see poller_main), so
# that each poll is an index range scan over just the rows that arrived since the last one.
HUB_POLL_SQL = "select detail_id from contribution_month where detail_id > %s order by detail_id limit 10000"
SUB_POLL_SQL = "select detail_id from core.ac43 where detail_id > %s order by detail_id limit 10000"


# -------------------------------------------------------------------------------------------------
# machine and versions


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": [float(x) for x in load],
    }


def versions(shared_url: str) -> dict[str, Any]:
    with psycopg.connect(pg.libpq(shared_url)) as conn:
        row = conn.execute("select version()").fetchone()
    git = "unknown"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
        git = head.strip() + ("+dirty" if dirty.strip() else "")
    return {
        "postgresql_shared": row[0] if row else None,
        "python": sys.version.split()[0],
        "psycopg": psycopg.__version__,
        "psycopg_impl": psycopg.pq.__impl__,
        "libpq": psycopg.pq.version(),
        "git": git,
    }


def server_settings(url: str, names: tuple[str, ...] = MIRRORED_SETTINGS) -> dict[str, str]:
    with psycopg.connect(pg.libpq(url)) as conn:
        rows = conn.execute(
            "select name, current_setting(name) from pg_settings where name = any(%s) or name = 'wal_level'",
            (list(names),),
        ).fetchall()
    return {str(n): str(v) for n, v in rows}


@dataclass
class CpuSample:
    """CPU time (seconds) per role (a set of processes) and of the whole machine, from /proc."""

    roles: dict[str, float]
    machine_busy: float
    machine_total: float


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_sample(roles: dict[str, list[int]]) -> CpuSample:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    tick = os.sysconf("SC_CLK_TCK")
    per_role = {role: sum(_proc_cpu(p) for p in pids) for role, pids in roles.items()}
    return CpuSample(per_role, (sum(parts) - idle) / tick, sum(parts) / tick)


def machine_busy(window: float = 3.0) -> float:
    """Percent of all CPUs busy over ``window`` seconds."""
    a = cpu_sample({})
    time.sleep(window)
    b = cpu_sample({})
    total = b.machine_total - a.machine_total
    return 100 * (b.machine_busy - a.machine_busy) / total if total else 0.0


def wait_quiet(limit: float, threshold: float = 25.0) -> dict[str, Any]:
    """Wait (at most ``limit`` seconds) until the machine is mostly idle; others share it.

    Returns the last busy reading and how long we waited, for the record.
    """
    started = time.monotonic()
    busy = machine_busy()
    announced = False
    while busy > threshold and time.monotonic() - started < limit:
        if not announced:
            console.print(f"   machine {busy:.0f}% busy (other work); waiting up to {limit:.0f} s for it to calm down")
            announced = True
        time.sleep(5)
        busy = machine_busy()
    return {"busy_pct_before": round(busy, 1), "waited_s": round(time.monotonic() - started, 1)}


def cpu_delta(a: CpuSample, b: CpuSample, changes: int) -> dict[str, Any]:
    """CPU of the consumer's processes (every role but the poller's) per 1000 changes, and machine load."""
    total = b.machine_total - a.machine_total
    roles = {role: round(b.roles[role] - a.roles.get(role, 0.0), 3) for role in b.roles}
    consumer = sum(v for role, v in roles.items() if not role.startswith("poller"))
    return {
        "roles_cpu_s": roles,
        "consumer_cpu_s": round(consumer, 3),
        "consumer_cpu_ms_per_1000_changes": round(1000 * consumer / max(changes, 1) * 1000, 1),
        "machine_busy_pct": round(100 * (b.machine_busy - a.machine_busy) / total, 1) if total else 0.0,
    }


# -------------------------------------------------------------------------------------------------
# databases


def scratch_url(server_url: str, name: str) -> str:
    return pg.with_database(server_url, name)


def fresh_database(url: str) -> None:
    pg.drop_database(url)
    pg.ensure_database(url)


def seed_core(core_url: str, persons: int, years: int) -> dict[str, Any]:
    """A fresh core schema with a seeded province; waits a while for core/seed.py if it is not there yet."""
    from core import db as core_db

    seed_fn: Callable[..., dict[str, int]] | None = None
    for _ in range(30):
        try:
            from core.seed import seed as seed_fn
        except ImportError:
            console.print("[yellow]core/seed.py is not there yet, waiting 60 s[/]")
            time.sleep(60)
        else:
            break
    if seed_fn is None:
        raise RuntimeError("core.seed.seed is not available")
    fresh_database(core_url)
    core_db.init(core_url, reset=True)
    started = time.perf_counter()
    counts = seed_fn(core_url, persons=persons, years=years, rng_seed=RNG_SEED)
    seconds = time.perf_counter() - started
    # The shared server runs with autovacuum off: give the planner statistics and set hint bits, as
    # a core that has been running for a while would have them.
    with psycopg.connect(pg.libpq(core_url), autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return {"counts": counts, "seconds": round(seconds, 2)}


def migrate_store(store_url: str) -> None:
    from hub import migrations

    fresh_database(store_url)
    migrations.upgrade("query", store_url)


# -------------------------------------------------------------------------------------------------
# private PostgreSQL 15 cluster (wal_level=logical)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    """A throw-away PostgreSQL 15 cluster under a temp dir, run as the postgres OS user."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings
        self.dir: Path | None = None
        self.port = 0
        self.running = False

    @property
    def data(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.port = free_port()
        conf = {
            **self.settings,
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'",
            "wal_level": "logical",
            "max_wal_senders": "10",
            "max_replication_slots": "10",
            "timezone": "'UTC'",
        }
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("\n# bench/sync_bench.py\n")
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            try:
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def quote_setting(value: str) -> str:
    return value if value.replace(".", "").isdigit() or value in ("on", "off") else "'" + value + "'"


# -------------------------------------------------------------------------------------------------
# 1. backfill throughput


def run_backfill(core_url: str, store_url: str) -> dict[str, Any]:
    """One backfill; per-model seconds from the progress callback's timing."""
    from sync.backfill import backfill

    marks: list[tuple[str, float]] = []

    def progress(name: str, done: int, total: int) -> None:
        if marks and marks[-1][0] == name:
            marks[-1] = (name, time.perf_counter())
        else:
            marks.append((name, time.perf_counter()))

    started = time.perf_counter()
    counts = backfill(core_url, store_url, progress)
    seconds = time.perf_counter() - started
    per_model: dict[str, float] = {}
    prev = started
    for name, at in marks:
        per_model[name] = per_model.get(name, 0.0) + at - prev
        prev = at
    rows = sum(counts.values())
    return {
        "seconds": round(seconds, 3),
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "counts": counts,
        "model_seconds": {k: round(v, 3) for k, v in per_model.items()},
        "commit_and_tail_s": round(started + seconds - prev, 3),
    }


def top_functions(stats: pstats.Stats, top: int, by_cumulative: bool = False) -> list[dict[str, Any]]:
    """The functions with the most own (or cumulative) time, from a cProfile result."""
    entries = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        entries.append((tottime, cumtime, ncalls, f"{Path(file).name}:{line}({func})"))
    entries.sort(key=lambda e: e[1] if by_cumulative else e[0], reverse=True)
    return [
        {"function": f, "ncalls": n, "tottime_s": round(t, 3), "cumtime_s": round(c, 3)} for t, c, n, f in entries[:top]
    ]


def copy_variants(core_url: str, store_url: str, name: str, cols: tuple[str, ...], query: str) -> dict[str, float]:
    """The backfill's core→store copy of one model, as written and with two changes, each rolled back.

    ``as_backfill``: one ``write`` per row received (what sync/backfill.py does); ``chunked``: rows
    gathered into 1 MiB blocks before ``write``; ``chunked_index_after``: chunked, with the model's
    primary key and indexes dropped before the COPY and built after it, in the same transaction.
    """
    collist = ", ".join(cols)
    out: dict[str, float] = {}
    with (
        psycopg.connect(pg.libpq(core_url)) as core,
        psycopg.connect(pg.libpq(store_url)) as store,
    ):
        indexes = [
            str(r[0])
            for r in store.execute(
                "select indexdef from pg_indexes where tablename = %s and indexname <> %s", (name, f"{name}_pkey")
            )
        ]
        pkey_row = store.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conname = %s", (f"{name}_pkey",)
        ).fetchone()
        store.rollback()
        for variant in ("as_backfill", "chunked", "chunked_index_after"):
            with store.transaction(force_rollback=True):
                store.execute("set local synchronous_commit = off")
                store.execute(f"truncate {name}")
                started = time.perf_counter()
                if variant == "chunked_index_after":
                    store.execute(f"alter table {name} drop constraint {name}_pkey")
                    for ddl in indexes:
                        store.execute("drop index " + ddl.split()[2])
                core.execute("set transaction isolation level repeatable read, read only")
                with (
                    core.cursor().copy(f"copy ({query}) to stdout") as src,
                    store.cursor().copy(f"copy {name} ({collist}) from stdin") as dst,
                ):
                    if variant == "as_backfill":
                        rows = 0
                        for block in src:
                            dst.write(block)
                            rows += bytes(block).count(b"\n")
                    else:
                        buf = bytearray()
                        for block in src:
                            buf += block
                            if len(buf) >= 1 << 20:
                                dst.write(buf)
                                buf = bytearray()
                        if buf:
                            dst.write(buf)
                if variant == "chunked_index_after":
                    if pkey_row:
                        store.execute(f"alter table {name} add constraint {name}_pkey {pkey_row[0]}")
                    for ddl in indexes:
                        store.execute(ddl)
                out[variant + "_s"] = round(time.perf_counter() - started, 3)
                core.rollback()
    return out


def profile_backfill(core_url: str, store_url: str, top: int = 15) -> dict[str, Any]:
    """Where a backfill's time goes: Python profile of the copy loop, and read vs write cost per model."""
    from sync.backfill import backfill, model_queries

    # a) cProfile of the client process during one full backfill.
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    backfill(core_url, store_url)
    prof.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(prof, stream=io.StringIO())
    hot = top_functions(stats, top)
    cpu_s = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]

    # b) per model: the core query alone (server side, to /dev/null), the core query read through
    #    psycopg row by row (the backfill's loop without the writes), and the store writes alone
    #    (COPY of the same bytes in 1 MiB blocks, with and without the model's indexes), rolled back.
    models: dict[str, dict[str, float]] = {}
    with (
        psycopg.connect(pg.libpq(core_url), autocommit=True) as core,
        psycopg.connect(pg.libpq(store_url)) as store,
    ):
        for name, cols, query, _source in model_queries():
            m = models.setdefault(
                name, {"rows": 0, "server_read_s": 0.0, "client_read_s": 0.0, "write_s": 0.0, "write_noidx_s": 0.0}
            )
            t0 = time.perf_counter()
            core.execute(f"copy ({query}) to '/dev/null'")
            m["server_read_s"] += time.perf_counter() - t0
            buf = bytearray()
            rows = 0
            t0 = time.perf_counter()
            with core.cursor().copy(f"copy ({query}) to stdout") as out:
                for block in out:
                    buf += block
                    rows += bytes(block).count(b"\n")
            m["client_read_s"] += time.perf_counter() - t0
            m["rows"] += rows
            data = bytes(buf)
            collist = ", ".join(cols)
            for target, key in ((name, "write_s"), ("bench_noidx", "write_noidx_s")):
                with store.transaction(force_rollback=True):
                    store.execute("set local synchronous_commit = off")
                    if target == "bench_noidx":
                        store.execute(f"create table bench_noidx (like {name} including generated)")
                    else:
                        store.execute(f"truncate {name}")
                    t0 = time.perf_counter()
                    with store.cursor().copy(f"copy {target} ({collist}) from stdin") as into:
                        for i in range(0, len(data), 1 << 20):
                            into.write(data[i : i + (1 << 20)])
                    m[key] += time.perf_counter() - t0
    # c) the largest model copied three ways (see copy_variants).
    big = max(models, key=lambda k: models[k]["rows"])
    variants: dict[str, Any] = {}
    for name, cols, query, _source in model_queries():
        if name == big:
            variants = {
                "model": name,
                "rows": int(models[name]["rows"]),
                **copy_variants(core_url, store_url, name, cols, query),
            }
            break
    return {
        "profiled_wall_s": round(wall, 3),
        "copy_variants": variants,
        "python_cpu_s": round(cpu_s, 3),
        "hot_functions": hot,
        "models": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in models.items()},
    }


def bench_backfill(server_url: str, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    core_url = scratch_url(server_url, f"{tag}_core")
    store_url = scratch_url(server_url, f"{tag}_query")
    console.print(f"[bold]1. backfill[/] seeding {args.persons:,} persons × {args.years} year(s) …")
    seeded = seed_core(core_url, args.persons, args.years)
    console.print(f"   seeded in {seeded['seconds']} s: {seeded['counts']}")
    migrate_store(store_url)
    runs = []
    for i in range(args.runs):
        quiet = wait_quiet(args.wait_idle)
        r = run_backfill(core_url, store_url)
        r["background"] = quiet
        runs.append(r)
        console.print(f"   run {i + 1}: {r['rows']:,} rows in {r['seconds']:.2f} s = {r['rows_per_s']:,} rows/s")
    median = statistics.median(r["rows_per_s"] for r in runs)
    result: dict[str, Any] = {
        "persons": args.persons,
        "years": args.years,
        "seed": seeded,
        "runs": runs,
        "median_rows_per_s": round(median),
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "meets_target": median >= TARGET_ROWS_PER_S,
    }
    if args.profile or median < TARGET_ROWS_PER_S:
        console.print("   below target (or --profile): profiling …")
        result["profile"] = profile_backfill(core_url, store_url)
    return result


# -------------------------------------------------------------------------------------------------
# 2. load generator and visibility poller (each in its own process)


@dataclass(frozen=True)
class LoadSpec:
    rate: float  # changes per second
    seconds: float
    tx_size: int  # changes per transaction
    insert_share: float  # share of inserts among the changes after the first of each transaction
    id_base: int
    seed: int


_INSERT = (
    "insert into core.ac43 (detail_id, aac001, aab001, aae140, aae003, aaa115, aac040, aae180, aae020, aae022, "
    "to_account, real_account, aae078) values (%s, %s, %s, %s, %s, '10', %s, %s, %s, %s, %s, %s, '0')"
)
_UPDATE = "update core.ac43 set aae078 = '1', paid_on = %s where detail_id = %s"


def _population(conn: psycopg.Connection[Any]) -> tuple[list[tuple[int, int]], list[str]]:
    pairs = [(int(a), int(b)) for a, b in conn.execute("select aac001, aab001 from core.ac02 limit 5000")]
    codes = [str(r[0]) for r in conn.execute("select distinct aae140 from core.ac02 limit 10")]
    conn.rollback()
    return pairs or [(i, 1 + i % 5) for i in range(1, 1001)], codes or ["110", "120"]


def generator_main(core_url: str, spec: LoadSpec, out: PipeEnd) -> None:
    """Write ``spec.rate`` changes/s in transactions of ``spec.tx_size``, paced by the clock.

    Each transaction starts with an insert (new detail_id) and continues with inserts or updates of
    rows this generator inserted earlier (marking them paid). The wall time right after COMMIT returns
    is recorded for every inserted detail_id.
    """
    rnd = random.Random(spec.seed)
    conn = psycopg.connect(pg.libpq(core_url), application_name="bench-load")
    pairs, codes = _population(conn)
    unpaid: deque[int] = deque(maxlen=5000)
    next_id = spec.id_base + 1
    ids: list[int] = []
    commits: list[float] = []
    commit_ms: list[float] = []
    n_tx = max(1, int(spec.rate * spec.seconds / spec.tx_size))
    interval = spec.tx_size / spec.rate
    inserts = updates = late = 0
    max_slip = 0.0
    today = date(2025, 12, 15)
    start_wall = time.time()
    start = time.perf_counter()
    for k in range(n_tx):
        due = start + k * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        else:
            slip = now - due
            max_slip = max(max_slip, slip)
            late += slip > 0.010
        tx_ids: list[int] = []
        for j in range(spec.tx_size):
            if j == 0 or not unpaid or rnd.random() < spec.insert_share:
                person, unit = rnd.choice(pairs)
                base = Decimal(rnd.randrange(500_000, 3_000_000)) / 100
                unit_amt = (base * Decimal("0.16")).quantize(Decimal("0.01"))
                person_amt = (base * Decimal("0.08")).quantize(Decimal("0.01"))
                conn.execute(
                    _INSERT,
                    (
                        next_id, person, unit, rnd.choice(codes), 202501 + rnd.randrange(12), base, base,
                        unit_amt, person_amt, person_amt, rnd.random() < 0.7,
                    ),
                    prepare=True,
                )  # fmt: skip
                tx_ids.append(next_id)
                unpaid.append(next_id)
                next_id += 1
                inserts += 1
            else:
                victim = unpaid.popleft()
                conn.execute(_UPDATE, (today, victim), prepare=True)
                updates += 1
        t0 = time.perf_counter()
        conn.commit()
        committed = time.time()
        commit_ms.append((time.perf_counter() - t0) * 1000)
        ids.extend(tx_ids)
        commits.extend([committed] * len(tx_ids))
    elapsed = time.perf_counter() - start
    conn.close()
    commit_ms.sort()
    cpu_s = time.process_time()
    out.send(
        {
            "ids": ids,
            "commits": commits,
            "start_wall": start_wall,
            "transactions": n_tx,
            "inserts": inserts,
            "updates": updates,
            "elapsed_s": round(elapsed, 3),
            "achieved_rate": round((inserts + updates) / elapsed, 1),
            "late_transactions_10ms": late,
            "max_slip_ms": round(max_slip * 1000, 2),
            "commit_ms_p50": round(percentile(commit_ms, 50), 3),
            "commit_ms_p99": round(percentile(commit_ms, 99), 3),
            "process_cpu_s": round(cpu_s, 3),
        }
    )
    out.close()


def poller_main(
    url: str,
    query: str,
    id_base: int,
    period: float,
    ready: MpEvent,
    stop: MpEvent,
    low: Synchronized[int],
    out: PipeEnd,
) -> None:
    """Poll ``query`` every ``period`` seconds; record when each id is first seen (end of that poll).

    ``low`` is the highest id such that every id up to it has been seen; each poll asks only for ids
    above it (an index range scan returning the few rows that arrived since), so an out-of-order
    arrival is still caught by the next poll.
    """
    conn = psycopg.connect(pg.libpq(url), autocommit=True, application_name="bench-poll")
    # Always the primary-key range scan: a table that grew from empty during the load has no statistics,
    # and a sequential scan per poll would cost the server more and more as the load goes on.
    conn.execute("set enable_seqscan = off; set enable_bitmapscan = off; set enable_sort = off")
    seen: dict[int, float] = {}
    watermark = id_base
    polls = 0
    query_s = 0.0
    max_query_s = 0.0
    ready.set()
    first = time.perf_counter()
    tick = first
    while not stop.is_set():
        t0 = time.perf_counter()
        rows = conn.execute(query, (watermark,), prepare=False).fetchall()
        t1 = time.perf_counter()
        at = time.time()
        polls += 1
        query_s += t1 - t0
        max_query_s = max(max_query_s, t1 - t0)
        for (i,) in rows:
            if i not in seen:
                seen[i] = at
        while watermark + 1 in seen:
            watermark += 1
        low.value = watermark
        tick += period
        pause = tick - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            tick = time.perf_counter()
    elapsed = time.perf_counter() - first
    conn.close()
    out.send(
        {
            "seen": seen,
            "polls": polls,
            "mean_period_ms": round(1000 * elapsed / max(polls, 1), 3),
            "mean_query_ms": round(1000 * query_s / max(polls, 1), 3),
            "max_query_ms": round(1000 * max_query_s, 3),
            "process_cpu_s": round(time.process_time(), 3),
        }
    )
    out.close()


def analyze_loop(core_url: str, every: float, stop: MpEvent) -> None:
    """ANALYZE core.chg_log every ``every`` seconds, as autovacuum would on a server that runs it."""
    with psycopg.connect(pg.libpq(core_url), autocommit=True, application_name="bench-analyze") as conn:
        while not stop.wait(every):
            conn.execute("analyze core.chg_log")


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def run_load(
    core_url: str,
    poll_url: str,
    poll_sql: str,
    spec: LoadSpec,
    args: argparse.Namespace,
    roles: Callable[[], dict[str, list[int]]],
) -> dict[str, Any]:
    """Drive one load against ``core_url`` while polling ``poll_url``; returns lag statistics and samples."""
    quiet = wait_quiet(args.wait_idle)
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    low = ctx.Value("q", spec.id_base)
    poll_in, poll_out = ctx.Pipe(duplex=False)
    gen_in, gen_out = ctx.Pipe(duplex=False)
    poller = ctx.Process(
        target=poller_main,
        args=(poll_url, poll_sql, spec.id_base, args.poll_ms / 1000, ready, stop, low, poll_out),
        daemon=True,
    )
    gen = ctx.Process(target=generator_main, args=(core_url, spec, gen_out), daemon=True)
    try:
        poller.start()
        poll_out.close()  # the parent keeps only the read ends: a dead child then means EOFError
        if not ready.wait(30):
            raise RuntimeError("the poller did not start")
        watched = {**roles(), "poller backend": backend_pids(poll_url, "application_name = 'bench-poll'")}
        others = foreign_activity(core_url)
        cpu0 = cpu_sample(watched)
        analyzer = None
        if args.analyze_chg_log:
            analyzer = threading.Thread(target=analyze_loop, args=(core_url, args.analyze_chg_log, stop), daemon=True)
            analyzer.start()
        gen.start()
        gen_out.close()
        g: dict[str, Any] = gen_in.recv()
        gen.join(30)
        last = g["ids"][-1] if g["ids"] else spec.id_base
        deadline = time.monotonic() + args.drain_timeout
        while low.value < last and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu1 = cpu_sample(watched)
        stop.set()
        p: dict[str, Any] = poll_in.recv()
        poller.join(30)
        if analyzer is not None:
            analyzer.join(30)
    finally:
        stop.set()
        for proc in (gen, poller):
            if proc.is_alive():
                proc.kill()
    seen: dict[int, float] = p.pop("seen")
    ids: list[int] = g.pop("ids")
    commits: list[float] = g.pop("commits")
    start = g["start_wall"]
    lag_ms = [round((seen[i] - c) * 1000, 3) if i in seen else None for i, c in zip(ids, commits, strict=True)]
    measured = sorted(v for v, c in zip(lag_ms, commits, strict=True) if v is not None and c - start >= args.warmup)
    changes = g["inserts"] + g["updates"]
    cpu = cpu_delta(cpu0, cpu1, changes)
    return {
        "background": {**others, **quiet},
        "generator": g,
        "poller": p,
        "cpu": cpu,
        "lag_ms": {
            "n": len(measured),
            "unseen": sum(v is None for v in lag_ms),
            "p50": percentile(measured, 50),
            "p95": percentile(measured, 95),
            "p99": percentile(measured, 99),
            "max": measured[-1] if measured else None,
            "mean": round(statistics.fmean(measured), 3) if measured else None,
        },
        "samples": {
            "commit_offset_s": [round(c - start, 4) for c in commits],
            "lag_ms": lag_ms,
        },
    }


# -------------------------------------------------------------------------------------------------
# 2./3. lag phases: hub sync worker and logical replication


def start_worker(
    core_url: str, store_url: str, log_path: Path, args: argparse.Namespace, profile_to: Path | None = None
) -> subprocess.Popen[bytes]:
    """``hub sync run`` in its own process, with the production defaults unless overridden."""
    env = dict(os.environ)
    env.update(
        HUB_CORE_DB_URL=core_url,
        HUB_HUB_DB_URL=core_url,
        HUB_QUERY_DB_URL=store_url,
        HUB_LOG_LEVEL="WARNING",
    )
    if args.batch_size:
        env["HUB_SYNC__BATCH_SIZE"] = str(args.batch_size)
    code = "from gateway.cli import main; main()"
    if profile_to is not None:
        code = (
            "import cProfile\nfrom gateway.cli import main\nprof = cProfile.Profile()\nprof.enable()\n"
            f"try:\n    main()\nexcept SystemExit:\n    pass\nprof.disable()\nprof.dump_stats({str(profile_to)!r})\n"
        )
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", code, "sync", "run"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def foreign_activity(url: str) -> dict[str, Any]:
    """What else the machine and the server are doing as a phase starts (noise on a shared machine)."""
    with psycopg.connect(pg.libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "select count(*) filter (where state = 'active'), count(*) from pg_stat_activity "
            "where backend_type = 'client backend' and datname not like 'bench%%' and pid <> pg_backend_pid()"
        ).fetchone()
    return {
        "loadavg": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
        "other_active_backends": int(row[0]) if row else 0,
        "other_backends": int(row[1]) if row else 0,
    }


def backend_pids(url: str, where: str, params: tuple[Any, ...] = ()) -> list[int]:
    with psycopg.connect(pg.libpq(url), autocommit=True) as conn:
        return [int(r[0]) for r in conn.execute(f"select pid from pg_stat_activity where {where}", params)]


def hub_phase(
    server_url: str,
    core_url: str,
    store_url: str,
    label: str,
    spec: LoadSpec,
    args: argparse.Namespace,
    tmp: Path,
    profile: bool = False,
) -> dict[str, Any]:
    from sync.backfill import backfill

    console.print(f"[bold]lag[/] {label}: hub sync worker …")
    migrate_store(store_url)
    backfill(core_url, store_url)
    # Statistics, as autovacuum would have them on a running store (the shared server runs without it).
    with psycopg.connect(pg.libpq(store_url), autocommit=True) as store:
        store.execute("analyze")
    log_path = tmp / f"worker-{label}.log"
    prof_path = tmp / f"worker-{label}.prof" if profile else None
    proc = start_worker(core_url, store_url, log_path, args, prof_path)
    core_db = pg.database_name(core_url)
    try:
        deadline = time.monotonic() + 60
        while not backend_pids(server_url, "application_name = 'hub-sync-listen' and datname = %s", (core_db,)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sync worker did not start; log:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        time.sleep(1.0)

        def roles() -> dict[str, list[int]]:
            return {
                "worker process": [proc.pid],
                "worker backends": backend_pids(
                    server_url,
                    "application_name like 'hub-sync%%' and datname = any(%s)",
                    ([core_db, pg.database_name(store_url)],),
                ),
            }

        with psycopg.connect(pg.libpq(store_url)) as store:
            before = store.execute("select applied_changes, batches from sync_checkpoint").fetchone()
        result = run_load(core_url, store_url, HUB_POLL_SQL, spec, args, roles)
        with psycopg.connect(pg.libpq(store_url)) as store:
            after = store.execute("select applied_changes, batches from sync_checkpoint").fetchone()
        if proc.poll() is not None:
            raise RuntimeError(f"the sync worker died; log:\n{log_path.read_text()[-3000:]}")
    finally:
        stop_worker(proc)
    assert before is not None and after is not None
    changes, batches = after[0] - before[0], after[1] - before[1]
    result["consumer"] = {
        "kind": "hub sync run",
        "batch_size": args.batch_size or 2000,
        "applied_changes": changes,
        "batches": batches,
        "changes_per_batch": round(changes / batches, 1) if batches else None,
    }
    if prof_path is not None and prof_path.exists():
        stats = pstats.Stats(str(prof_path))
        result["worker_profile"] = {
            "by_own_time": top_functions(stats, 25),
            "by_cumulative_time": top_functions(stats, 40, by_cumulative=True),
        }
    return result


def logical_phase(cluster: PrivateCluster, core_url: str, spec: LoadSpec, args: argparse.Namespace) -> dict[str, Any]:
    from core import db as core_db

    console.print("[bold]lag[/] private: logical replication baseline …")
    sub_url = scratch_url(cluster.url, "bench_sub")
    fresh_database(sub_url)
    # The same schema on the subscriber (its triggers do not fire for replicated changes: the apply
    # worker runs with session_replication_role = replica).
    core_db.init(sub_url)
    core_name = pg.database_name(core_url)
    slot = "bench_slot"
    with psycopg.connect(pg.libpq(core_url), autocommit=True) as pub:
        pub.execute("create publication bench_pub for table core.ac43")
        # Created here, not by CREATE SUBSCRIPTION: that would hang inside one cluster.
        pub.execute("select pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    conninfo = f"host=127.0.0.1 port={cluster.port} user=postgres dbname={core_name}"
    with psycopg.connect(pg.libpq(sub_url), autocommit=True) as sub:
        sub.execute(
            sql.SQL(
                "create subscription bench_sub connection {} publication bench_pub "
                "with (create_slot = false, slot_name = {}, copy_data = false)"
            ).format(sql.Literal(conninfo), sql.Literal(slot))
        )
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(pg.libpq(core_url), autocommit=True) as pub:
            while (
                time.monotonic() < deadline
                and not pub.execute(
                    "select 1 from pg_stat_replication where application_name = 'bench_sub' and state = 'streaming'"
                ).fetchone()
            ):
                time.sleep(0.1)
        time.sleep(1.0)

        def roles() -> dict[str, list[int]]:
            return {
                "walsender": backend_pids(cluster.url, "backend_type = 'walsender'"),
                "apply worker": backend_pids(cluster.url, "backend_type = 'logical replication worker'"),
            }

        result = run_load(core_url, sub_url, SUB_POLL_SQL, spec, args, roles)
    finally:
        with psycopg.connect(pg.libpq(sub_url), autocommit=True) as sub:
            sub.execute("alter subscription bench_sub disable")
            sub.execute("alter subscription bench_sub set (slot_name = none)")
            sub.execute("drop subscription bench_sub")
        with psycopg.connect(pg.libpq(core_url), autocommit=True) as pub:
            for _ in range(100):
                if pub.execute("select active from pg_replication_slots where slot_name = %s", (slot,)).fetchone() in (
                    None,
                    (False,),
                ):
                    break
                time.sleep(0.1)
            pub.execute(
                "select pg_drop_replication_slot(%s) from pg_replication_slots where slot_name = %s", (slot, slot)
            )
            pub.execute("drop publication bench_pub")
    result["consumer"] = {"kind": "logical replication (pgoutput, one subscription, synchronous_commit=off)"}
    return result


# -------------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.sync_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--persons", type=int, default=None, help="persons seeded for the backfill (default 100000)")
    p.add_argument("--years", type=int, default=1, help="years of monthly contributions seeded (default 1)")
    p.add_argument("--runs", type=int, default=3, help="backfill runs; the median is reported (default 3)")
    p.add_argument("--rate", type=float, default=1000, help="core changes per second of the load (default 1000)")
    p.add_argument("--seconds", type=float, default=None, help="load duration per lag phase (default 60)")
    p.add_argument("--tx-size", type=int, default=4, help="changes per core transaction (default 4)")
    p.add_argument("--insert-share", type=float, default=0.7, help="inserts among the non-first changes")
    p.add_argument("--lag-persons", type=int, default=None, help="persons seeded for the lag phases (default 2000)")
    p.add_argument("--poll-ms", type=float, default=5.0, help="visibility poll period in ms (default 5)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of each load left out of the stats (default 2)")
    p.add_argument(
        "--wait-idle", type=float, default=300.0, help="longest wait for an idle machine before each measurement"
    )
    p.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for the last change")
    p.add_argument("--batch-size", type=int, default=0, help="HUB_SYNC__BATCH_SIZE for the worker (default: setting)")
    p.add_argument(
        "--analyze-chg-log",
        type=float,
        default=0.0,
        help="ANALYZE core.chg_log every this many seconds during each load (emulates autovacuum; default off)",
    )
    p.add_argument("--profile", action="store_true", help="profile the backfill even when it meets the target")
    p.add_argument(
        "--profile-worker", action="store_true", help="one more shared-server lag phase with the worker under cProfile"
    )
    p.add_argument("--skip-backfill", action="store_true", help="no backfill measurement")
    p.add_argument("--skip-lag", action="store_true", help="no lag measurement (and no private cluster)")
    p.add_argument("--skip-private", action="store_true", help="no private cluster (no logical-replication baseline)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2000 persons, 10 s loads")
    p.add_argument("--keep", action="store_true", help="keep the scratch databases on the shared server")
    p.add_argument("--out", type=Path, default=None, help="result file (default bench/results/sync-<date>.json)")
    args = p.parse_args(argv)
    args.persons = args.persons or (2000 if args.quick else 100_000)
    args.seconds = args.seconds or (10.0 if args.quick else 60.0)
    args.lag_persons = args.lag_persons or (500 if args.quick else 2000)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    return args


def summary(result: dict[str, Any]) -> None:
    bf = result.get("backfill")
    if bf:
        t = Table(title="Backfill (shared server)")
        for col in ("run", "rows", "seconds", "rows/s"):
            t.add_column(col, justify="right")
        for i, r in enumerate(bf["runs"], 1):
            t.add_row(str(i), f"{r['rows']:,}", f"{r['seconds']:.2f}", f"{r['rows_per_s']:,}")
        ok = "[green]meets[/]" if bf["meets_target"] else "[red]below[/]"
        t.add_row("median", "", f"{bf['median_seconds']:.2f}", f"{bf['median_rows_per_s']:,}")
        console.print(t)
        console.print(f"target {TARGET_ROWS_PER_S:,} rows/s: {ok}")
        m = Table(title="Backfill seconds per model (run 1)")
        m.add_column("model")
        m.add_column("rows", justify="right")
        m.add_column("seconds", justify="right")
        run1 = bf["runs"][0]
        for name, secs in sorted(run1["model_seconds"].items(), key=lambda kv: -kv[1]):
            m.add_row(name, f"{run1['counts'].get(name, 0):,}", f"{secs:.2f}")
        console.print(m)
        prof = bf.get("profile")
        if prof:
            pt = Table(title="Backfill breakdown: read vs write per model (seconds)")
            for col in ("model", "rows", "server read", "client read", "write", "write w/o idx"):
                pt.add_column(col, justify="right" if col != "model" else "left")
            for name, v in sorted(prof["models"].items(), key=lambda kv: -kv[1]["client_read_s"]):
                pt.add_row(
                    name, f"{int(v['rows']):,}", f"{v['server_read_s']:.2f}", f"{v['client_read_s']:.2f}",
                    f"{v['write_s']:.2f}", f"{v['write_noidx_s']:.2f}",
                )  # fmt: skip
            console.print(pt)
            console.print(
                f"client Python CPU {prof['python_cpu_s']:.1f} s of {prof['profiled_wall_s']:.1f} s wall; hottest:"
            )
            for h in prof["hot_functions"][:6]:
                console.print(f"  {h['tottime_s']:>7.2f} s  {h['ncalls']:>9,}  {h['function']}")
    lag = result.get("lag")
    if lag:
        t = Table(title=f"Lag, commit → visible (ms), {result['settings']['rate']:.0f} changes/s")
        for col in ("server", "path", "n", "p50", "p95", "p99", "max", "rate", "CPU ms/1k ch", "busy %"):
            t.add_column(col, justify="right" if col not in ("server", "path") else "left")
        for key, ph in lag.items():
            server, path = key.split("/", 1)
            lm = ph["lag_ms"]
            t.add_row(
                server, path, f"{lm['n']:,}", f"{lm['p50']:.1f}", f"{lm['p95']:.1f}", f"{lm['p99']:.1f}",
                f"{lm['max']:.1f}", f"{ph['generator']['achieved_rate']:.0f}",
                f"{ph['cpu']['consumer_cpu_ms_per_1000_changes']:.0f}", f"{ph['cpu']['machine_busy_pct']:.0f}",
            )  # fmt: skip
        console.print(t)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def dump_json(result: dict[str, Any]) -> str:
    """Indented JSON, with the long sample arrays each kept on one line."""
    arrays: dict[str, str] = {}

    def compact(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: compact(v) for k, v in value.items()}
        if isinstance(value, list) and len(value) > 20 and all(not isinstance(v, dict | list) for v in value):
            token = f"@@array{len(arrays)}@@"
            arrays[token] = json.dumps(value, separators=(",", ":"))
            return token
        return value

    text = json.dumps(compact(result), ensure_ascii=False, indent=1, default=str)
    for token, arr in arrays.items():
        text = text.replace(json.dumps(token), arr, 1)
    return text + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tag = f"bench_sync_{os.getpid()}"
    out = args.out or RESULTS_DIR / f"sync-{datetime.now(UTC).date().isoformat()}{'-quick' if args.quick else ''}.json"
    shared_settings = server_settings(SHARED_URL)
    result: dict[str, Any] = {
        "benchmark": "sync",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(SHARED_URL),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out",)},
        "servers": {"shared": {"url": SHARED_URL, "settings": shared_settings}},
    }
    # Ctrl-C and SIGTERM unwind through the finally blocks below.
    signal.signal(signal.SIGTERM, _interrupt)
    cluster: PrivateCluster | None = None
    scratch: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    id_base = LOAD_ID_BASE
    try:
        if not args.skip_backfill:
            scratch += [scratch_url(SHARED_URL, f"{tag}_core"), scratch_url(SHARED_URL, f"{tag}_query")]
            result["backfill"] = bench_backfill(SHARED_URL, tag, args)
        if not args.skip_lag:
            lag: dict[str, Any] = {}
            result["lag"] = lag
            spec = LoadSpec(args.rate, args.seconds, args.tx_size, args.insert_share, id_base, RNG_SEED)
            core_url = scratch_url(SHARED_URL, f"{tag}_lagcore")
            store_url = scratch_url(SHARED_URL, f"{tag}_lagquery")
            scratch += [core_url, store_url]
            console.print(f"[bold]2. lag[/] seeding {args.lag_persons:,} persons on the shared server …")
            seed_core(core_url, args.lag_persons, 1)
            lag["shared/hub sync"] = hub_phase(SHARED_URL, core_url, store_url, "shared", spec, args, tmp)
            if args.profile_worker:
                spec_p = LoadSpec(args.rate, args.seconds, args.tx_size, args.insert_share, id_base + 3 * 10**9, 1)
                result["worker_profile"] = hub_phase(
                    SHARED_URL, core_url, store_url, "shared-profiled", spec_p, args, tmp, profile=True
                )
            if not args.skip_private:
                console.print("[bold]3. baseline[/] starting a private PostgreSQL 15 cluster (wal_level=logical) …")
                cluster = PrivateCluster({k: quote_setting(v) for k, v in shared_settings.items() if k != "wal_level"})
                cluster.start()
                result["servers"]["private"] = {
                    "port": cluster.port,
                    "settings": server_settings(cluster.url),
                    "version": versions(cluster.url)["postgresql_shared"],
                }
                pcore = scratch_url(cluster.url, "bench_core")
                pstore = scratch_url(cluster.url, "bench_query")
                seed_core(pcore, args.lag_persons, 1)
                spec2 = LoadSpec(args.rate, args.seconds, args.tx_size, args.insert_share, id_base + 10**9, RNG_SEED)
                lag["private/hub sync"] = hub_phase(cluster.url, pcore, pstore, "private", spec2, args, tmp)
                spec3 = LoadSpec(
                    args.rate, args.seconds, args.tx_size, args.insert_share, id_base + 2 * 10**9, RNG_SEED
                )
                lag["private/logical replication"] = logical_phase(cluster, pcore, spec3, args)
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dump_json(result))
        summary(result)
        console.print(f"results written to {out}")
        return 0
    finally:
        if cluster is not None:
            cluster.stop()
        if not args.keep:
            for url in scratch:
                with contextlib.suppress(psycopg.Error):
                    pg.drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Annual wage declaration: from the reviewer's approval to the new bases visible in the unit's pages.

    .venv/bin/python -m bench.declaration_bench [--small 100] [--large 10000] [--runs 5] [--large-runs 3]

A scratch province on the shared PostgreSQL server: one unit of ``--persons`` people (default 13,500,
one year of contributions) seeded by ``core.seed.seed`` into a core database, a query store filled by
``sync.backfill`` (its snapshot is the sync checkpoint), a migrated hub database. Three processes run
as in production, with their production settings: the core's command API (``python -m core.api``),
the declaration outbox (``hub declarations run``) and the sync worker (``hub sync run``).

Each run submits an annual wage declaration for the contribution year of today (its months January to
this month are planned, or re-planned with 调基补差 rows on later runs: every run declares different
wages) of ``n`` people of the unit, claims it, and then times, from the commit of the approval:

* ``sent_s``: until the outbox worker marked it sent (its idle wait, 1 s, dominates);
* ``applied_s``: until the core's answer was recorded (the core API applied it);
* ``visible_s``: until every contribution row the core wrote for it is in the query store, where the
  unit's pages (人员缴费明细, 单位缴费与欠费) read them (polled every 10 ms);
* ``sync_rows_per_s``: those rows ÷ (visible − applied), the sync's bulk rate for this change.

Medians over the runs; the 100-person case is compared with the 5 s target. Writes
bench/results/declaration-<timestamp>.json. All scratch databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub import pg

RESULTS_DIR = Path(__file__).parent / "results"
SHARED_URL = os.environ.get("BENCH_SHARED_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_SMALL_S = 5.0


def _url(name: str) -> str:
    base = SHARED_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def scratch(persons: int) -> Iterator[dict[str, str]]:
    from core import db as core_db
    from core import seed
    from hub import migrations
    from sync.backfill import backfill

    tag = f"bench_decl_{os.getpid()}"
    urls = {k: _url(f"{tag}_{k}") for k in ("core", "query", "hub")}
    try:
        t = time.monotonic()
        migrations.upgrade("hubdb", urls["hub"])
        core_db.init(urls["core"])
        seed.seed(urls["core"], persons=persons, units=1, years=1)
        with pg.connect(urls["core"], autocommit=True) as conn:
            conn.execute("vacuum analyze")
        migrations.upgrade("query", urls["query"])
        backfill(urls["core"], urls["query"])
        with pg.connect(urls["query"], autocommit=True) as conn:
            conn.execute("vacuum analyze")
        print(f"province ready in {time.monotonic() - t:.0f} s", flush=True)
        yield urls
    finally:
        for url in urls.values():
            with contextlib.suppress(Exception):
                pg.drop_database(url)


def _env(urls: dict[str, str], core_api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HUB_CORE_DB_URL=urls["core"],
        HUB_HUB_DB_URL=urls["hub"],
        HUB_QUERY_DB_URL=urls["query"],
        HUB_LOG_LEVEL="WARNING",
        HUB_DECLARATIONS__CORE_API_URL=core_api_url,
    )
    return env


@contextlib.contextmanager
def processes(urls: dict[str, str], log_dir: Path) -> Iterator[str]:
    """The core API, ``hub declarations run`` and ``hub sync run``, each its own process."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = _env(urls, api_url)
    cli = "from gateway.cli import main; main()"
    commands = {
        "core-api": [sys.executable, "-m", "core.api", "--core-db-url", urls["core"], "--port", str(port)],
        "outbox": [sys.executable, "-c", cli, "declarations", "run"],
        "sync": [sys.executable, "-c", cli, "sync", "run"],
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, cmd in commands.items():
            log = (log_dir / f"declaration-bench-{name}.log").open("ab")
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(api_url + "/healthz", timeout=1) as resp:  # noqa: S310 (loopback)
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError("a worker process did not start; see the worker logs") from None
                time.sleep(0.1)
        yield api_url
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _scalar(conn: Any, sql: str, params: tuple[Any, ...]) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def roster(query_url: str) -> tuple[int, list[int]]:
    """The unit and its insured persons on the roster (the core plans only those)."""
    with pg.connect(query_url) as conn:
        unit_id = int(_scalar(conn, "select unit_id from unit_overview order by unit_id limit 1", ()))
        rows = conn.execute(
            "select r.person_id from unit_roster r where r.unit_id = %s and r.end_date is null "
            "and exists (select 1 from person_insurance i where i.person_id = r.person_id and i.insurance = '120') "
            "order by r.person_id",
            (unit_id,),
        ).fetchall()
    return unit_id, [int(str(r[0])) for r in rows]


def one_run(urls: dict[str, str], unit_id: int, persons: list[int], run: int, year: int) -> dict[str, Any]:
    from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
    from hub.declarations import service

    operator = Subject(
        kind=SubjectKind.UNIT_OPERATOR,
        account_id="bench-op",
        client_id="bench",
        channel=Channel.PORTAL,
        unit_id=unit_id,
    )
    payload = {
        "year": year,
        "rows": [{"person_id": p, "monthly_wage": f"{8000 + 37 * run + i % 11}.00"} for i, p in enumerate(persons)],
    }
    with pg.connect(urls["hub"]) as hub, pg.connect(urls["query"], autocommit=True) as query:
        decl = service.create(hub, query, operator, "annual_wage", payload, uuid.uuid4().hex, submit=True)
        rev = Subject(
            kind=SubjectKind.STAFF,
            account_id="bench-reviewer",
            client_id="bench",
            channel=Channel.PORTAL,
            roles=frozenset({StaffRole.REVIEWER}),
            region_codes=frozenset({decl.region_code}),
        )
        service.claim(hub, rev, decl.id)
        hub.commit()
        with pg.connect(urls["core"], autocommit=True) as core:
            before = int(_scalar(core, "select coalesce(max(detail_id), 0) from core.ac43", ()))
        service.approve(hub, rev, decl.id)
        hub.commit()
        t0 = time.time()
        status = ""
        while status not in ("applied", "failed"):
            time.sleep(0.01)
            status = str(_scalar(hub, "select status from hub.declaration where id = %s", (decl.id,)))
            hub.commit()
            if time.time() - t0 > 600:
                raise RuntimeError("the declaration was not applied within 10 minutes")
        if status != "applied":
            raise RuntimeError("the core refused the declaration")
        with pg.connect(urls["core"], autocommit=True) as core:
            written = int(_scalar(core, "select count(*) from core.ac43 where detail_id > %s", (before,)))
        seen = -1
        while seen < written:
            seen = int(
                _scalar(
                    query,
                    "select count(*) from contribution_month where unit_id = %s and detail_id > %s",
                    (unit_id, before),
                )
            )
            if seen < written:
                time.sleep(0.01)
            if time.time() - t0 > 900:
                raise RuntimeError("the change did not reach the query store within 15 minutes")
        t_visible = time.time()
        events: dict[str, Any] = {
            str(a): at
            for a, at in hub.execute(
                "select action, at from hub.declaration_event where declaration_id = %s "
                "and action in ('send', 'apply')",
                (decl.id,),
            ).fetchall()
        }
        hub.commit()
    sent = events["send"].timestamp() - t0
    applied = events["apply"].timestamp() - t0
    visible = t_visible - t0
    return {
        "persons": len(persons),
        "core_rows": written,
        "sent_s": round(sent, 3),
        "applied_s": round(applied, 3),
        "visible_s": round(visible, 3),
        "sync_s": round(visible - applied, 3),
        "sync_rows_per_s": round(written / max(visible - applied, 1e-3)),
        "loadavg_1m_after": os.getloadavg()[0],  # the machine is shared: how busy it was
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(float(r[key]) for r in runs)), 3)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("sent_s", "applied_s", "visible_s", "sync_s", "sync_rows_per_s")
    return {"runs": runs, "median": {k: _median(runs, k) for k in keys}, "core_rows": runs[0]["core_rows"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--persons",
        type=int,
        default=13_500,
        help="persons seeded into the one unit (about 78 % are insured and on its roster)",
    )
    parser.add_argument("--small", type=int, default=100, help="people in the small declaration")
    parser.add_argument("--large", type=int, default=10_000, help="people in the large declaration (0: skip)")
    parser.add_argument("--runs", type=int, default=5, help="runs of the small declaration")
    parser.add_argument("--large-runs", type=int, default=3, help="runs of the large declaration")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    started = datetime.now(UTC)
    load_at_start = list(os.getloadavg())
    from hub.declarations.service import local_day

    year = local_day(started).year
    RESULTS_DIR.mkdir(exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="declaration-bench-"))
    print(f"worker logs in {log_dir}", flush=True)
    with scratch(args.persons) as urls, processes(urls, log_dir) as api_url:
        unit_id, persons = roster(urls["query"])
        print(f"unit {unit_id}: {len(persons)} insured persons on the roster; core API {api_url}", flush=True)
        if len(persons) < max(args.small, args.large):
            raise SystemExit(f"only {len(persons)} persons on the roster; raise --persons")
        cases: dict[str, Any] = {}
        plan = [("small", args.small, args.runs)] + ([("large", args.large, args.large_runs)] if args.large else [])
        # One warm-up run of each size plans the year (first-time 补收 rows); the measured runs then
        # re-plan it with 调基补差 rows: the same number of rows per run.
        for name, n, runs in plan:
            warm = one_run(urls, unit_id, persons[:n], 0, year)
            print(f"{name} warm-up: {warm}", flush=True)
            measured = []
            for run in range(1, runs + 1):
                result = one_run(urls, unit_id, persons[:n], run + (100 if name == "large" else 0), year)
                print(f"{name} run {run}: {result}", flush=True)
                measured.append(result)
            cases[name] = {"warm_up": warm, **summary(measured)}
    small = cases["small"]["median"]["visible_s"]
    doc = {
        "benchmark": "declaration",
        "started": started.isoformat(),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_start": load_at_start,
            "loadavg_at_end": list(os.getloadavg()),
        },
        "settings": {
            "persons_seeded": args.persons,
            "contribution_year": year,
            "outbox": "hub declarations run (production defaults: batch 20, idle wait 1 s)",
            "sync": "hub sync run (production defaults)",
            "core_api": "python -m core.api",
        },
        "cases": cases,
        "target_small_visible_s": TARGET_SMALL_S,
        "small_meets_target": small < TARGET_SMALL_S,
    }
    out = args.out or RESULTS_DIR / f"declaration-{started.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    for name, case in cases.items():
        print(name, json.dumps(case["median"]), "core rows", case["core_rows"])
    print(f"small declaration visible after {small} s (target < {TARGET_SMALL_S} s); written {out}")


if __name__ == "__main__":
    main()

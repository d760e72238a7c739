"""Heavy size of the sync crash test: at least 20 SIGKILLs of `hub sync run` over 50,000 core changes.

Run: `python -m bench.sync_crash [--changes 50000] [--kills 20]`. Writes bench/results/sync-crash-<date>.json
with the kill log, the verify result and the machine. The suite runs the same scenario at 5,000 changes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from core import db as core_db
from hub import migrations, pg
from sync import apply, feed
from sync.worker import FEED
from tests.sync import crashkit

SERVER = os.environ.get("HUB_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--mid-batch", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    core_url = pg.with_database(SERVER, f"bench_crash_core_{tag}")
    store_url = pg.with_database(SERVER, f"bench_crash_query_{tag}")
    started = time.monotonic()
    try:
        core_db.init(core_url)
        migrations.upgrade("query", store_url)
        crashkit.seed_minimal(core_url)
        with pg.connect(store_url) as store:
            apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
            store.commit()
        burst = crashkit.Burst(core_url, target=args.changes)
        burst.start()
        log = crashkit.kill_loop(
            core_url, store_url, burst, min_kills=args.kills, min_mid_batch=args.mid_batch, batch_size=args.batch_size
        )
        burst.join(120)
        worker = crashkit.start_worker(core_url, store_url, args.batch_size)
        try:
            with pg.connect(core_url, autocommit=True) as core, pg.connect(store_url) as store:
                while True:
                    cp = apply.load_checkpoint(store, FEED)
                    store.rollback()
                    if cp is not None and feed.pending(core, cp)[0] == 0:
                        break
                    time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(30)
        env = dict(os.environ, HUB_CORE_DB_URL=core_url, HUB_HUB_DB_URL=core_url, HUB_QUERY_DB_URL=store_url)
        verify = subprocess.run(
            [sys.executable, "-c", "from gateway.cli import main; main()", "sync", "verify"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        with pg.connect(store_url) as store, pg.connect(core_url) as core:
            dup = store.execute(
                "select count(*) from (select batch_no, subject_type, subject_id from sync_event "
                "group by 1, 2, 3 having count(*) > 1) d"
            ).fetchone()
            cp = apply.load_checkpoint(store, FEED)
            logged = core.execute("select count(*) from core.chg_log").fetchone()
        result = {
            "benchmark": "sync-crash",
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cores": os.cpu_count()},
            "settings": vars(args),
            "changes_written": burst.written,
            "kills": log.kills,
            "kills_mid_batch": log.mid_batch,
            "worker_starts": log.restarts,
            "verify_exit_code": verify.returncode,
            "duplicate_events": dup[0] if dup else None,
            "applied_changes": cp.applied_changes if cp else None,
            "change_log_rows": logged[0] if logged else None,
            "seconds": round(time.monotonic() - started, 1),
        }
        out = Path("bench/results") / f"sync-crash-{datetime.now(UTC).date().isoformat()}.json"
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        print(json.dumps(result, ensure_ascii=False, indent=2))
        ok = (
            verify.returncode == 0
            and result["duplicate_events"] == 0
            and result["applied_changes"] == result["change_log_rows"]
            and log.kills >= args.kills
        )
        if not ok:
            print(verify.stdout + verify.stderr)
            raise SystemExit(1)
    finally:
        pg.drop_database(core_url)
        pg.drop_database(store_url)


if __name__ == "__main__":
    main()

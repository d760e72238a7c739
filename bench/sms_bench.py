"""SMS throughput on loopback: the hub's worker (smpplib transport, states in PostgreSQL, receipts on)
against smpp34's own asyncio client sending the same messages to the same SMSC (the baseline).

    .venv/bin/python -m bench.sms_bench [--messages 20000]

Needs PostgreSQL on 127.0.0.1:5432 (or HUB_TEST_PG_URL). Writes bench/results/sms-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import smpp34

from hub import migrations, pg
from hub.messaging import sealed
from hub.messaging.outbox import Priority
from sms import text
from tests.sms.smsc import Smsc

ADMIN = os.environ.get("HUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BODY = "【湖南社保】您的验证码为246810，5分钟内有效，请勿泄露给他人。"


def machine() -> dict[str, Any]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def fresh_db() -> str:
    url = pg.with_database(ADMIN, f"bench_sms_{uuid.uuid4().hex[:8]}")
    pg.ensure_database(url)
    migrations.upgrade("hubdb", url)
    return url


def fill(url: str, n: int) -> None:
    """``n`` verification codes stored as ``hub.messaging.outbox.enqueue`` stores one: the number and the
    personalisation sealed (``hub.messaging.sealed``), the blind indexes set, no plaintext; written with COPY
    (enqueue's one insert per message would take longer than the run it prepares)."""
    fields = {"code": "246810"}
    with pg.connect(url) as conn:
        keyring = sealed.for_writing(conn)
        ids = sealed.next_ids(conn, n)
        with (
            conn.cursor() as cur,
            cur.copy(
                "copy hub.sms_message (id, recipient_enc, recipient_bidx, recipient_pidx, personalisation_enc, "
                "template, priority, purpose, mandatory) from stdin"
            ) as copy,
        ):
            for k, message_id in enumerate(ids, start=1):
                copy.write_row(
                    (
                        message_id,
                        *sealed.seal(keyring, message_id, str(13000000000 + k), fields),
                        "verification_code",
                        int(Priority.CODE),
                        "bench",
                        True,
                    )
                )
        conn.commit()


def count(url: str, states: tuple[str, ...]) -> int:
    with pg.connect(url) as conn:
        row = conn.execute("select count(*) from hub.sms_message where status = any(%s)", (list(states),)).fetchone()
    return int(str(row[0])) if row else 0


def worker_env(url: str, port: int, binds: int, window: int, var: Path, **extra: str) -> dict[str, str]:
    """Settings of a `hub sms run` process against ``url`` and the SMSC on ``port`` (limits out of the way)."""
    env = dict(os.environ)
    env.update(
        HUB_CORE_DB_URL=url,
        HUB_HUB_DB_URL=url,
        HUB_QUERY_DB_URL=url,
        HUB_VAR_DIR=str(var),
        HUB_LOG_LEVEL="WARNING",
        HUB_SMS__TRANSPORT="smpp",
        HUB_SMS__POLL_SECONDS="0.01",
        HUB_SMS__SMPP__PORT=str(port),
        HUB_SMS__SMPP__BINDS=str(binds),
        HUB_SMS__SMPP__WINDOW=str(window),
        HUB_SMS__SMPP__RATE_PER_BIND="100000",
        HUB_SMS__SMPP__RECONNECT_MIN_SECONDS="0.1",
        HUB_SMS__WINDOW_START="00:00",
        HUB_SMS__WINDOW_END="00:00",
        HUB_SMS__LIMITS__PER_NUMBER_MINUTE="1000000",
        HUB_SMS__LIMITS__PER_NUMBER_HOUR="1000000",
        HUB_SMS__LIMITS__PER_NUMBER_DAY="1000000",
        HUB_SMS__LIMITS__PER_PREFIX_HOUR="1000000000",
        HUB_SMS__LIMITS__PER_IP_HOUR="1000000000",
        HUB_SMS__LIMITS__DAILY_BUDGET_YUAN="1000000000",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`hub sms run`, the production entry point, in its own process (no GIL shared with the SMSC)."""
    return subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "sms", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None,
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_hub(n: int, binds: int, window: int) -> dict[str, Any]:
    # The SMSC keeps as many receipts in flight towards the hub as the binds' windows allow (at least 128).
    smsc = Smsc(receipt_senders=max(128, binds * window)).start()
    url = fresh_db()
    proc: subprocess.Popen[bytes] | None = None
    try:
        fill(url, n)
        load_before = os.getloadavg()
        with tempfile.TemporaryDirectory() as var:
            proc = start_worker(worker_env(url, smsc.port, binds, window, Path(var)))
            # the clock starts at the first accepted submit (process start-up and bind are not throughput)
            assert smsc.wait_for(lambda: len(smsc.submits) > 0, 60)
            started = time.monotonic()
            cpu_start = cpu_seconds(proc.pid)
            sent_at = delivered_at = None
            samples: list[tuple[float, int]] = []
            with pg.connect(url, autocommit=True) as conn:
                while time.monotonic() - started < 1800:
                    row = conn.execute(
                        "select count(*) filter (where status in ('sent', 'delivered')), "
                        "count(*) filter (where status = 'delivered') from hub.sms_message"
                    ).fetchone()
                    assert row is not None
                    done, delivered = int(str(row[0])), int(str(row[1]))
                    samples.append((round(time.monotonic() - started, 3), done))
                    if sent_at is None and done >= n:
                        sent_at = time.monotonic() - started
                    if delivered >= n:
                        delivered_at = time.monotonic() - started
                        break
                    time.sleep(0.25)
            worker_cpu = cpu_seconds(proc.pid) - cpu_start
            rc = stop_worker(proc)
            proc = None
        return {
            "client": "hub worker (`hub sms run`, smpplib)",
            "binds": binds,
            "window": window,
            "messages": n,
            "seconds_to_sent": sent_at,
            "seconds_to_delivered": delivered_at,
            "sent_per_second": round(n / sent_at, 1) if sent_at else None,
            "delivered_per_second": round(n / delivered_at, 1) if delivered_at else None,
            "worker_cpu_seconds": round(worker_cpu, 2),
            "worker_exit_code": rc,
            "smsc_accepted": len(smsc.snapshot()),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "samples": samples,
        }
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(30)
        smsc.stop()
        pg.drop_database(url)


async def _baseline(port: int, n: int, binds: int, window: int) -> float:
    sessions = []
    for i in range(binds):
        client = smpp34.Client("127.0.0.1", port, f"base{i}", "x", window_size=window, inbound_capacity=65536)
        sessions.append((client, await client.connect()))
    payload = text.encode([BODY], 0)[0].short_message
    per = n // binds

    async def one_bind(smsc: Any) -> None:
        sem = asyncio.Semaphore(window)

        async def submit(k: int) -> None:
            async with sem:
                await smsc.submit_sm(
                    f"{13000000000 + k}", payload, source_addr="10690012333", data_coding=8, registered_delivery=1
                )

        await asyncio.gather(*(submit(k) for k in range(per)))

    started = time.monotonic()
    await asyncio.gather(*(one_bind(s) for _, s in sessions))
    elapsed = time.monotonic() - started
    for client, smsc in sessions:
        with contextlib.suppress(Exception):  # smpp34's SMSC may close instead of answering unbind
            await asyncio.wait_for(smsc.unbind(), 2)
        await client.stop()
    return elapsed


def run_baseline(n: int, binds: int, window: int) -> dict[str, Any]:
    smsc = Smsc(receipts=False).start()
    try:
        elapsed = asyncio.run(_baseline(smsc.port, n, binds, window))
        return {
            "client": "smpp34 asyncio (baseline)",
            "binds": binds,
            "window": window,
            "messages": n,
            "seconds_to_sent": elapsed,
            "sent_per_second": round(n / elapsed, 1),
            "smsc_accepted": len(smsc.snapshot()),
        }
    finally:
        smsc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window1-messages", type=int, default=2_000)
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    load_at_start = os.getloadavg()
    for binds, window, n in ((1, 1, args.window1_messages), (1, 64, args.messages), (4, 64, args.messages)):
        for fn in (run_baseline, run_hub):
            result = fn(n, binds, window)
            print({k: v for k, v in result.items() if k != "samples"})
            runs.append(result)
    out = {
        "at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "versions": {p: version(p) for p in ("smpplib", "smpp34", "psycopg")},
        "settings": {
            "receipts": True,
            "states_in": "PostgreSQL (hub DB)",
            "segments_per_message": 1,
            "template": "verification_code (limits checked, set out of the way)",
            "worker": "`hub sms run` in its own process; the SMSC (smpp34) and this driver in another",
            "baseline": "smpp34's asyncio client in this process, same SMSC, receipts off",
            "smsc_receipts_in_flight": "max(128, binds × window)",
        },
        "runs": runs,
    }
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    path = Path("bench/results") / f"sms-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(path)


if __name__ == "__main__":
    main()

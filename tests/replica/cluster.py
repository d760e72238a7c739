"""A private PostgreSQL primary and a streaming replica of it (pg_basebackup -R), each in its own temp dir.

Never the shared server: both clusters listen on free ports of 127.0.0.1 and are removed afterwards.
When run as root, the server programs run as the ``postgres`` OS user (``runuser``), as PostgreSQL
refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("HUB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def binaries_present() -> bool:
    return all((PG_BIN / name).exists() for name in ("initdb", "pg_ctl", "pg_basebackup"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str, timeout: float = 120) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed: {result.stdout}\n{result.stderr}")


class Server:
    """One cluster's data directory, port and pg_ctl."""

    def __init__(self, root: Path, name: str) -> None:
        self.dir = root / name
        self.data = self.dir / "data"
        self.port = free_port()
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def configure(self, extra: dict[str, str]) -> None:
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'",
            **extra,
        }
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("\n# tests/replica\n" + "".join(f"{k} = {v}\n" for k, v in conf.items()))

    def start(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
            self.running = False

    def backend_pid(self, backend_type: str) -> int:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            row = conn.execute("select pid from pg_stat_activity where backend_type = %s", (backend_type,)).fetchone()
        assert row is not None, backend_type
        return int(row[0])


class PrimaryAndReplica:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hub-replica-test-"))
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.primary = Server(self.root, "primary")
        self.replica = Server(self.root, "replica")
        self.stopped: list[int] = []  # pids under SIGSTOP, resumed at close

    def start(self) -> None:
        for server in (self.primary, self.replica):
            _as_postgres("mkdir", "-p", str(server.dir))
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.primary.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.primary.configure(
            {
                "wal_level": "replica",
                "max_wal_senders": "4",
                "fsync": "off",  # a throw-away cluster: durability is not what the test is about
                "full_page_writes": "off",
                "timezone": "'UTC'",
                "hot_standby": "on",
                "wal_receiver_status_interval": "1",
            }
        )
        self.primary.start()
        _as_postgres(
            str(PG_BIN / "pg_basebackup"), "-D", str(self.replica.data), "-h", "127.0.0.1",
            "-p", str(self.primary.port), "-U", "postgres", "-X", "stream", "-R", "-c", "fast",
        )  # fmt: skip
        self.replica.configure({})  # its own port and socket directory (later lines win)
        self.replica.start()

    def freeze(self, pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        self.stopped.append(pid)

    def thaw(self) -> None:
        while self.stopped:
            os.kill(self.stopped.pop(), signal.SIGCONT)

    def close(self) -> None:
        self.thaw()
        for server in (self.replica, self.primary):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(check: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``check()`` until it is true; a generous liveness bound, not a timing assertion."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)

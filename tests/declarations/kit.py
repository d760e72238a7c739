"""Shared by the declaration tests: a small province in the core, callers, the core API as a real
process, and one sync round into the query store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg

from core import service as core_service
from hub import pg
from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from sync import apply, feed
from sync.worker import FEED, SyncWorker
from tests.conftest import Databases
from tests.fixtures import core_rows, params

REGION = core_rows.REGION  # 370102, the region of tests.fixtures.params
OTHER_REGION = "370103"
# The 经办日期 of these tests: March 2025, so 2025 periods use the 2024 wage (7,300) for the bounds and
# 2024 periods the 2023 wage (7,000) (tests/fixtures/params.py).
TODAY = date(2025, 3, 10)
NOW = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


def unit_operator(unit_id: int, account: str | None = None) -> Subject:
    return Subject(
        kind=SubjectKind.UNIT_OPERATOR,
        account_id=account or f"op-{unit_id}",
        client_id="portal",
        channel=Channel.PORTAL,
        unit_id=unit_id,
    )


def staff(account: str, *roles: StaffRole, regions: tuple[str, ...] = (REGION,)) -> Subject:
    return Subject(
        kind=SubjectKind.STAFF,
        account_id=account,
        client_id="portal",
        channel=Channel.PORTAL,
        roles=frozenset(roles),
        region_codes=frozenset(regions),
    )


def reviewer(account: str = "rev-1", regions: tuple[str, ...] = (REGION,)) -> Subject:
    return staff(account, StaffRole.REVIEWER, regions=regions)


def seed_core(conn: psycopg.Connection[Any]) -> None:
    """Region 370102 with the hand-checkable parameters; units 1 (全额供款) and 2 (自收自支) there, unit 3
    in another region; persons 1–4 registered, 1 and 2 insured in unit 1 since 2025-01 at 10,000."""
    params.write(conn)
    # the bound wages of the periods are set by params.write: 2023 ALL 7,000 and 2024 ALL 7,300
    core_rows.unit(conn, 1, funding="1")
    core_rows.unit(conn, 2, funding="3")
    core_rows.region(conn, OTHER_REGION)
    core_rows.unit(conn, 3, code=OTHER_REGION)
    for person_id, name in ((1, "张三"), (2, "李四"), (3, "王五"), (4, "赵六")):
        core_rows.person(conn, person_id, name=name)
    for person_id in (1, 2):
        core_service.enrol(conn, 1, person_id, date(2025, 1, 1), Decimal("10000"), date(2025, 1, 15))


def start_sync(dbs: Databases) -> SyncWorker:
    with pg.connect(dbs.query_url) as store:
        apply.init_checkpoint(store, FEED, feed.EMPTY_SNAPSHOT)
        store.commit()
    return SyncWorker(dbs.core_url, dbs.query_url, batch_size=500)


def sync_round(worker: SyncWorker) -> None:
    """Carry every committed core change into the query store."""
    worker.drain()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CoreApi:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def core_api(core_url: str, token: str | None = None) -> Iterator[CoreApi]:
    """The core's command API as a real process (uvicorn), stopped afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HUB_DECLARATIONS__CORE_API_TOKEN"}
    if token:
        env["HUB_DECLARATIONS__CORE_API_TOKEN"] = token
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.api", "--core-db-url", core_url, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:  # noqa: S310 (loopback)
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("core API did not start") from None
                time.sleep(0.1)
        yield CoreApi(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

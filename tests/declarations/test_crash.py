"""Exactly once under crash: the outbox worker (a real ``hub declarations run`` process) is killed with
SIGKILL after the core applied its command and before the hub recorded the answer — 20 times, half of
them while a second worker retries the same command concurrently — and every key has exactly one effect.

Between the workers and the core's command API (a real server process) sits a small HTTP proxy of this
test. It forwards each request to the core, so the core has applied (and committed) the command, and
then, as the round's plan says, kills the sending worker instead of answering, or holds the answer until
a second worker has sent the same command, so that two workers retry it at the same time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hub import pg
from hub.declarations import service
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType as T
from tests.declarations import kit
from tests.declarations.conftest import World
from tests.fixtures import core_rows

ROUNDS = 20
FIRST_PERSON = 101


@dataclass
class Plan:
    kill: str | None = None  # a worker name, or "first": the worker whose request arrived first
    hold: int = 1  # answer only once this many requests for the command have arrived (or after 10 s)


@dataclass
class Proxy:
    core_url: str
    url: str = ""  # where the workers send (this proxy)
    plan: Plan = field(default_factory=Plan)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    arrivals: list[tuple[str, str]] = field(default_factory=list)  # (command id, worker name)
    replies: list[tuple[str, bool]] = field(default_factory=list)  # (command id, replayed) forwarded by the core
    kills: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def handle(self, name: str, body: bytes) -> bytes | None:
        command_id = json.loads(body)["command_id"]
        request = urllib.request.Request(  # noqa: S310 (loopback)
            self.core_url + "/esb/commands", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 (loopback)
            answer: bytes = resp.read()
        with self.cond:
            self.replies.append((command_id, bool(json.loads(answer)["replayed"])))
            self.arrivals.append((command_id, name))
            self.cond.notify_all()
            self.cond.wait_for(lambda: sum(1 for c, _ in self.arrivals if c == command_id) >= self.plan.hold, 10)
            first = next(n for c, n in self.arrivals if c == command_id)
            target = first if self.plan.kill == "first" else self.plan.kill
            if target == name:
                self.plan.kill = None
                proc = self.procs[name]
                os.kill(proc.pid, signal.SIGKILL)  # the core has applied it; the worker never hears back
                proc.wait()
                self.kills += 1
                return None
        return answer


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            name = self.path.split("/")[2]  # /w/<worker>/esb/commands
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = proxy.handle(name, body)
            if answer is None:
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def proxy(world: World) -> Iterator[Proxy]:
    with kit.core_api(world.dbs.core_url) as api:
        p = Proxy(api.url)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(p))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        p.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield p
        finally:
            server.shutdown()
            server.server_close()
            for proc in p.procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def start_worker(world: World, proxy: Proxy, name: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        HUB_CORE_DB_URL=world.dbs.core_url,
        HUB_HUB_DB_URL=world.dbs.hub_url,
        HUB_QUERY_DB_URL=world.dbs.query_url,
        HUB_REDIS_URL=world.dbs.redis_url,
        HUB_DECLARATIONS__CORE_API_URL=f"{proxy.url}/w/{name}",
        HUB_DECLARATIONS__LEASE_SECONDS="1",
        HUB_DECLARATIONS__IDLE_WAIT_SECONDS="0.1",
        HUB_DECLARATIONS__BACKOFF_MIN_SECONDS="0.1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "declarations", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proxy.procs[name] = proc
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(20)


def status_of(world: World, declaration_id: int) -> Status:
    row = world.hub.execute("select status from hub.declaration where id = %s", (declaration_id,)).fetchone()
    world.hub.rollback()
    assert row is not None
    return Status(row[0])


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def approved(world: World, person_id: int) -> int:
    op, rev = kit.unit_operator(1), kit.reviewer()
    payload = {"person_id": person_id, "start_date": "2025-02-01", "monthly_wage": "8000"}
    decl = service.create(world.hub, world.query, op, T.PERSON_ENROL, payload, f"crash-{person_id}", submit=True)
    service.claim(world.hub, rev, decl.id)
    service.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    return decl.id


def test_killed_after_the_core_applied_twenty_times(world: World, proxy: Proxy) -> None:
    with pg.connect(world.dbs.core_url) as core:
        for person_id in range(FIRST_PERSON, FIRST_PERSON + ROUNDS):
            core_rows.person(core, person_id, name="钱八")
        core.commit()
    world.sync_round()
    ids = []
    for i in range(ROUNDS):
        person_id = FIRST_PERSON + i
        declaration_id = approved(world, person_id)
        ids.append(declaration_id)
        if i % 2 == 0:
            # one worker, killed once the core has applied; then two workers retry it at the same time
            proxy.plan = Plan(kill=f"a{i}")
            proc = start_worker(world, proxy, f"a{i}")
            proc.wait(60)
            assert proc.returncode == -signal.SIGKILL
            assert status_of(world, declaration_id) is Status.SENT  # the hub never heard the answer
            proxy.plan = Plan(hold=3)  # the killed request + one from each of the two new workers
            pair = [start_worker(world, proxy, f"b{i}"), start_worker(world, proxy, f"c{i}")]
        else:
            # two workers from the start: the first sender is killed once the second sends the same command
            proxy.plan = Plan(kill="first", hold=2)
            pair = [start_worker(world, proxy, f"a{i}"), start_worker(world, proxy, f"b{i}")]
        wait_for(lambda d=declaration_id: status_of(world, d) is Status.APPLIED, 60)
        for proc in pair:
            stop(proc)
    assert proxy.kills == ROUNDS

    # The core: one log row per command id, one applying transaction per person, exactly the planned rows.
    with pg.connect(world.dbs.core_url) as core:
        log = core.execute("select status, count(*) from core.command_log group by status").fetchall()
        assert log == [("applied", ROUNDS)]
        for i in range(ROUNDS):
            person_id = FIRST_PERSON + i
            # 2025-02 (补收) and 2025-03, each for 120 and 116
            assert core.execute("select count(*) from core.ac43 where aac001 = %s", (person_id,)).fetchone() == (4,)
            assert core.execute("select count(*) from core.ac20 where aac001 = %s", (person_id,)).fetchone() == (1,)
            txids = core.execute(
                "select count(distinct txid) from core.chg_log where tbl in ('ac43', 'ac20', 'ac02') "
                "and coalesce(new_row, old_row)->>'aac001' = %s",
                (str(person_id),),
            ).fetchone()
            assert txids == (1,)
    # Each command reached the core at least twice (the killed send and a retry); only the first applied.
    sends = {c: sum(1 for x, _ in proxy.replies if x == c) for c, _ in proxy.replies}
    fresh = {c: sum(1 for x, replayed in proxy.replies if x == c and not replayed) for c in sends}
    assert len(sends) == ROUNDS
    assert all(n >= 2 for n in sends.values())
    assert set(fresh.values()) == {1}
    assert sum(1 for n in sends.values() if n >= 3) >= ROUNDS // 2  # the rounds with two concurrent retries

    # The hub: every declaration applied once, one history entry, one notice.
    rows = world.hub.execute(
        "select d.status, c.status, (select count(*) from hub.declaration_event e where e.declaration_id = d.id "
        "and e.action = 'apply'), (select count(*) from hub.sms_message m where m.reference = d.reference) "
        "from hub.declaration d join hub.declaration_command c on c.declaration_id = d.id where d.id = any(%s)",
        (ids,),
    ).fetchall()
    assert rows == [("applied", "applied", 1, 1)] * ROUNDS

    # And the query store shows each person's months once.
    world.sync_round()
    counts = world.query.execute(
        "select person_id, count(*), sum(base) from contribution_month where person_id >= %s group by 1 order by 1",
        (FIRST_PERSON,),
    ).fetchall()
    # 8,000 within 4,380–21,900 (2025 bounds): 4 rows, base total 4 × 8,000
    assert counts == [(FIRST_PERSON + i, 4, Decimal("32000.00")) for i in range(ROUNDS)]

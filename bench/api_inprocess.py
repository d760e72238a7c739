"""In-process A/B of the gateway's person-overview read: the real app, no HTTP server, no socket.

    .venv/bin/python -m bench.api_inprocess [--requests 3000] [--concurrency 64] [--rounds 3]

Builds the gateway exactly as ``bench.api_bench`` serves it (production settings, token check, rate
limits in Redis, audit chain) over the quick benchmark's databases (``bench_api_*_2000p_1y``, made by
``python -m bench.api_bench --quick``), runs its lifespan, and drives it through ASGI directly with
``--concurrency`` requests in flight, rotating persons, tokens and client addresses. Variants, in turns
on the one app so the machine's load hits them alike:

- ``old``: what the fast path did before the one-statement read (``open_read``'s transaction: BEGIN with
  the position, the ownership facts, the overview, ROLLBACK) and the audit batch as BEGIN, executemany,
  COMMIT;
- ``new``: the overview as one statement (``hub.access.consistency.PendingRead``) and the audit batch
  as one statement.

Reported: this process's CPU time per request (``time.process_time``: the app, the driver's few
dict operations, not PostgreSQL or Redis) and requests per second, per variant and mode. The per-subject
limit holds (every person is asked for well under once a second); the per-client limit of the app
client is raised so the in-process rate is not capped by it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.api_bench import (
    DB_PREFIX,
    GATEWAY_ENV,
    GATEWAY_GQL,
    SHARED_URL,
    Dbs,
    _env,
    client_ip,
    gateway_app,
    gateway_env,
    person_subject,
    pick_persons,
    signing_keys,
)


def _dbs() -> Dbs:
    from hub import pg

    return Dbs(*(pg.with_database(SHARED_URL, f"{DB_PREFIX}{k}_2000p_1y") for k in ("core", "query", "hub")))


def _scope(mode: str, pid: int, token: str, ip: str) -> tuple[dict[str, Any], bytes]:
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode()), (b"x-forwarded-for", ip.encode())]
    if mode == "rest":
        path, method, body = f"/api/v1/persons/{pid}/overview", "GET", b""
    else:
        path, method = "/graphql", "POST"
        body = json.dumps({"query": GATEWAY_GQL, "variables": {"id": str(pid)}}, separators=(",", ":")).encode()
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (ip, 40000),
        "server": ("127.0.0.1", 8000),
    }
    return scope, body


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope, state={}), receive, send)
    return status


async def _run(app: Any, requests: list[tuple[dict[str, Any], bytes]], concurrency: int) -> dict[str, float]:
    queue = iter(requests)
    bad = 0

    async def worker() -> None:
        nonlocal bad
        for scope, body in queue:
            if await _call(app, scope, body) != 200:
                bad += 1

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    n = len(requests)
    return {"cpu_ms_per_request": 1000 * cpu / n, "requests_per_second": n / wall, "errors": bad}


@contextmanager
def _variant(app: Any, name: str) -> Iterator[None]:
    """``old``: the fast path's overview through open_read, the audit batch in a transaction and GraphQL
    executed by strawberry (no compiled plans)."""
    from gateway import fast
    from hub.audit import writer

    if name == "new":
        yield
        return
    read = fast.PERSON_READS["overview"]
    new_insert = writer.insert_batch
    new_shape = fast.FastReads._overview_only

    async def old_insert(conn: Any, records: list[Any]) -> None:
        async with conn.transaction(), conn.cursor() as cur:
            await cur.executemany(writer.INSERT, [r.row() for r in records])

    def never(self: Any, query: str) -> bool:
        return False

    fast.PERSON_READS["overview"] = fast.PersonRead(read.function, read.takes_query, one_statement=False)
    writer.insert_batch = old_insert
    fast.FastReads._overview_only = never  # type: ignore[method-assign]
    plans, app.fast_reads.plans = app.fast_reads.plans, None
    try:
        yield
    finally:
        fast.PERSON_READS["overview"] = read
        writer.insert_batch = new_insert
        fast.FastReads._overview_only = new_shape  # type: ignore[method-assign]
        app.fast_reads.plans = plans


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from hub.access.ratelimit import DEFAULT_LIMITS, Limit
    from hub.identity.tokens import issue_access_token

    dbs = _dbs()
    keys = signing_keys(dbs)
    persons = pick_persons(dbs, 2000)
    issuer, audience = GATEWAY_ENV["HUB_AUTH__ISSUER"], "hub"
    with _env(gateway_env(dbs, None)):
        app = gateway_app()
    limits = {k: dict(v) for k, v in DEFAULT_LIMITS.items()}
    for route_class in ("read", "graphql"):
        limits[route_class]["client"] = Limit(1_000_000, 1_000_000)
    tokens = {pid: issue_access_token(person_subject(pid), keys, issuer=issuer, audience=audience) for pid in persons}
    results: dict[str, list[dict[str, float]]] = {}
    async with app.router.lifespan_context(app):
        app.state.rate_limits = limits
        k = 0
        for _ in range(args.rounds):
            for mode in args.modes:
                for name in ("old", "new"):
                    reqs = []
                    for _ in range(args.requests):
                        pid = persons[k % len(persons)]
                        reqs.append(_scope(mode, pid, tokens[pid], client_ip(k % len(persons) + 1)))
                        k += 1
                    with _variant(app, name):
                        await _run(app, reqs[: args.concurrency * 4], args.concurrency)  # warm-up
                        r = await _run(app, reqs, args.concurrency)
                    results.setdefault(f"{mode} {name}", []).append(r)
                    print(f"{mode:8} {name}: {r}", flush=True)
    summary = {
        key: {
            "cpu_ms_per_request_median": round(statistics.median(r["cpu_ms_per_request"] for r in runs), 3),
            "requests_per_second_median": round(statistics.median(r["requests_per_second"] for r in runs), 1),
            "errors": sum(int(r["errors"]) for r in runs),
        }
        for key, runs in results.items()
    }
    return {"runs": results, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["rest", "graphql"], choices=["rest", "graphql"])
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(main_async(args))
    print(json.dumps(out["summary"], indent=2))


if __name__ == "__main__":
    main()

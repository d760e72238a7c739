"""API benchmark: an authenticated person-overview read via REST and GraphQL against two baselines.

Run ``python -m bench.api_bench --help``; bench/README.md explains the method. In one run, on the same
seeded province (``--persons``, default 100,000) and the same PostgreSQL, each server pinned to core 0
(``taskset -c 0``, one uvicorn worker or one node process) and the load generators pinned to core 1:

* the gateway (``gateway.app.create_app`` with production settings: token check, rate limits and the
  audit log all on), REST ``GET /api/v1/persons/{id}/overview`` and GraphQL ``person(id){overview{…}}``;
* a bare FastAPI endpoint doing the same single query (``bench/api_baseline/bare.py``);
* PostGraphile 4 over the query store (``personOverviewByPersonId``).

Each is measured closed-loop with wrk (maximum throughput), then open-loop at half that rate with
the paced generator of this module (wrk cannot hold a fixed rate); latency is counted from each
request's scheduled send time, so a stalled server cannot hide its queue (no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BASELINE = BENCH / "api_baseline"
RESULTS_DIR = BENCH / "results"
PYTHON = sys.executable
SHARED_URL = os.environ.get("BENCH_SHARED_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
SERVER_CPU = "0"
LOADGEN_CPU = "1"
RNG_SEED = 20261127
APP_CLIENT = "app-12333"  # the 掌上12333 app: the client persons log in through (hub/identity/demo.py)
DB_PREFIX = "bench_api_"
# Production settings for the gateway under test. These keys guard nothing but the benchmark's own
# scratch databases; the key-encryption key must stay the same while a hub DB is reused.
GATEWAY_ENV = {
    "HUB_ENVIRONMENT": "production",
    "HUB_LOG_LEVEL": "WARNING",
    "HUB_AUTH__ISSUER": "https://hub.bench",
    "HUB_AUTH__CODE_HMAC_KEY": "bench-code-hmac-key-" + "c" * 32,
    "HUB_AUTH__KEY_ENCRYPTION_KEY": "bench-key-encryption-key-" + "k" * 32,
    "HUB_AUTH__AUDIT_ANCHOR_KEY": "bench-audit-anchor-key-" + "a" * 32,
    "HUB_AUTH__COOKIE_SECURE": "true",
    "HUB_CERTIFICATES__MAC_KEY": "bench-certificate-mac-key-" + "m" * 32,
    "HUB_CERTIFICATES__VERIFY_BASE_URL": "https://hub.bench/verify",
    "HUB_CRYPTO__KEK": "bench-data-key-encryption-key-" + "d" * 32,
    # No SMS is sent by this read; production refuses the development transports all the same.
    "HUB_SMS__TRANSPORT": "smpp",
    "HUB_SMS__SMPP__SYSTEM_ID": "bench",
    "HUB_SMS__SMPP__PASSWORD": "bench-smpp-" + "p" * 16,
    # The app client carries every person's reads of a province: its per-client limit is sized for the
    # province's peak, above what one core can serve, so the per-subject and per-IP limits are what bind.
    "HUB_WEB__FORWARDED_ALLOW_IPS": "127.0.0.1",  # the load generator plays the load balancer
    "HUB_RATE_LIMITS": '{"read": {"client": [100000, 200000]}, "graphql": {"client": [100000, 200000]}}',
}
# Targets of the issue: throughput relative to PostGraphile, and p99 at half of each server's maximum.
TARGET_REST_X = 1.5
TARGET_GRAPHQL_X = 1.0
TARGET_P99_MS = 25.0
TICK = 0.001  # the open-loop generator's shortest sleep (seconds)
# Files whose change makes a reused core and query store stale.
FINGERPRINT_FILES = ("core/seed.py", "core/schema.sql", "sync/models.py", "sync/backfill.py")

GATEWAY_GQL = (
    "query($id: ID!){person(id: $id){overview{personId idType idNumber name sex ethnicity "
    "birthDate workStart phone regionCode retired retireDate positionLevel}}}"
)
# The ID number and phone are stored sealed (SM4-GCM envelopes, hub/crypto): the baselines hand out the
# envelopes (PostGraphile as hex strings), the gateway opens and masks them.
PG_GQL = (
    "query($id: BigInt!){personOverviewByPersonId(personId: $id){personId idType idNumberEnc name sex "
    "ethnicity birthDate workStart phoneEnc regionCode retired retireDate positionLevel}}"
)


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


# -------------------------------------------------------------------------------------------------
# the gateway as served under test


def gateway_app() -> Any:
    """uvicorn factory: the real gateway app from HUB_* settings, as ``hub serve`` builds it.

    It changes nothing in the app. A last startup hook writes what the running process actually uses
    (settings, rate limits, limiter, audit chain, token verifier) to ``BENCH_SETTINGS_OUT``.
    """
    from gateway.app import create_app
    from hub.runtime import Endpoints

    settings = _settings_class()()
    assert settings.core_db_url and settings.hub_db_url and settings.query_db_url and settings.redis_url
    app = create_app(
        settings, Endpoints(settings.core_db_url, settings.hub_db_url, settings.query_db_url, settings.redis_url)
    )

    async def record(app: Any) -> None:
        out = os.environ.get("BENCH_SETTINGS_OUT")
        if not out:
            return
        limiter = app.state.rate_limiter
        audit = app.state.audit
        proof = {
            "environment": settings.environment,
            "sync_embedded": settings.sync_in_web_process,
            "token_check": {
                "verifier": "gateway.identity.deps.current_subject (JWKS from the hub DB, revocation in Redis)",
                "identity_area_mounted": hasattr(app.state, "identity"),
                "signing_keys_override": getattr(app.state, "signing_keys", None) is not None,
                "issuer": settings.auth.issuer,
                "audience": settings.auth.audience,
            },
            "rate_limit": {
                "limiter": f"{type(limiter).__module__}.{type(limiter).__name__}",
                "redis": limiter.redis is not None,
                "using_fallback_at_start": limiter.using_fallback,
                "limits": {
                    route: {dim: {"rate_per_s": lim.rate, "burst": lim.burst} for dim, lim in dims.items()}
                    for route, dims in limiter.limits.items()
                },
            },
            "audit": {
                "writer": f"{type(audit).__module__}.{type(audit).__name__}",
                "chain_id": audit.chain_id,
                "durable_before_response": True,
            },
            "graphql_introspection": settings.environment != "production",
            # gateway/fast.py: the person reads and GraphQL answered in front of FastAPI (HUB_FAST_READS).
            "fast_path": {
                "enabled": getattr(app, "fast_reads", None) is not None,
                "rest_reads": [f"/api/v1/persons/{{id}}/{op}" for op in _fast_reads()],
                "graphql": getattr(getattr(app, "fast_reads", None), "graphql", None) is not None,
                # HUB_BATCH_READS: limiter checks and overview reads of one loop pass share one call.
                "batch_reads": getattr(getattr(app, "fast_reads", None), "batcher", None) is not None,
            },
            "consistency_timeout_s": app.state.consistency_timeout,
        }
        Path(out).write_text(json.dumps(proof, indent=1))

    async def record_batches(app: Any) -> None:
        out = os.environ.get("BENCH_SETTINGS_OUT")
        fast = getattr(app, "fast_reads", None)
        if not out or fast is None:
            return
        limiter = app.state.rate_limiter.batcher
        reads = fast.batcher
        counts = {
            "limiter_checks": {"batches": limiter.batches, "items": limiter.items},
            "overview_reads": {"batches": reads.batches, "items": reads.items} if reads is not None else None,
        }
        Path(out + ".batches").write_text(json.dumps(counts))

    app.state.startup_hooks.append(record)
    app.state.shutdown_hooks.append(record_batches)
    profile_out = os.environ.get("BENCH_PROFILE_OUT")
    if profile_out:
        from pyinstrument import Profiler

        # CPU of the event loop's thread once started (async_mode disabled: awaits are not charged
        # to the awaiting coroutine, so the tree shows where the process spends its time).
        profiler = Profiler(interval=0.0005, async_mode="disabled")

        async def start_profile(app: Any) -> None:
            # after the warm-up: new pool connections and first-request work are not the steady state
            delay = float(os.environ.get("BENCH_PROFILE_DELAY", "0"))
            asyncio.get_running_loop().call_later(delay, profiler.start)

        async def stop_profile(app: Any) -> None:
            profiler.stop()
            Path(profile_out).write_text(
                json.dumps(
                    {
                        "tree": profiler.output_text(show_all=False),
                        "flat_self": "\n".join(profiler.output_text(flat=True).splitlines()[:60]),
                        "flat_total": "\n".join(profiler.output_text(flat=True, flat_time="total").splitlines()[:80]),
                    }
                )
            )

        app.state.startup_hooks.append(start_profile)
        app.state.shutdown_hooks.append(stop_profile)  # shutdown hooks run in reverse: this one first
    return app


def _fast_reads() -> list[str]:
    from gateway.fast import PERSON_READS

    return sorted(PERSON_READS)


def _settings_class() -> Any:
    """``hub.settings.Settings``; while it lacks the ``certificates`` group that portal_web/verify.py reads
    (production then refuses the development MAC key), a subclass that carries it."""
    from hub.settings import Settings

    if "certificates" in Settings.model_fields:
        return Settings
    from hub.certificates.config import CertificateSettings

    class WithCertificates(Settings):
        certificates: CertificateSettings = CertificateSettings()

    return WithCertificates


# -------------------------------------------------------------------------------------------------
# machine, versions


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def cpu_ticks() -> tuple[int, int]:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(parts) - parts[3] - parts[4], sum(parts)


def busy_pct(a: tuple[int, int], b: tuple[int, int]) -> float:
    total = b[1] - a[1]
    return round(100 * (b[0] - a[0]) / total, 1) if total else 0.0


def wait_quiet(limit: float, threshold: float = 30.0) -> dict[str, Any]:
    """Wait (at most ``limit`` s) until the machine is less than ``threshold``% busy: others share it."""
    started = time.monotonic()
    while True:
        a = cpu_ticks()
        time.sleep(3)
        busy = busy_pct(a, cpu_ticks())
        if busy < threshold or time.monotonic() - started >= limit:
            break
    return {"busy_pct_before": busy, "waited_s": round(time.monotonic() - started, 1)}


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def _dist(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, Any]:
    import psycopg

    from hub import pg

    with psycopg.connect(pg.libpq(SHARED_URL)) as conn:
        row = conn.execute("select version()").fetchone()
    node = subprocess.run(["node", "--version"], check=False, capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "--version"], check=False, capture_output=True, text=True)
    pkg = json.loads((BASELINE / "node_modules/postgraphile/package.json").read_text())
    git = "unknown"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=ROOT)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True, cwd=ROOT)
        git = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return {
        "python": sys.version.split()[0],
        "fastapi": _dist("fastapi"),
        "starlette": _dist("starlette"),
        "strawberry": _dist("strawberry-graphql"),
        "pydantic": _dist("pydantic"),
        "uvicorn": _dist("uvicorn"),
        "uvloop": _dist("uvloop"),
        "httptools": _dist("httptools"),
        "psycopg": _dist("psycopg"),
        "joserfc": _dist("joserfc"),
        "redis_py": _dist("redis"),
        "postgraphile": pkg["version"],
        "node": node,
        "postgres": row[0] if row else None,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else None,
        "git": git,
    }


# -------------------------------------------------------------------------------------------------
# databases


@dataclass(frozen=True)
class Dbs:
    core: str
    query: str
    hub: str


def fingerprint(persons: int, years: int) -> str:
    h = hashlib.sha256(f"{persons}/{years}/{RNG_SEED}".encode())
    for name in FINGERPRINT_FILES:
        path = ROOT / name
        h.update(path.read_bytes() if path.exists() else b"-")
    for path in sorted((ROOT / "hub/migrations/query/versions").glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _comment(url: str) -> str | None:
    import psycopg

    from hub import pg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg.libpq(SHARED_URL)) as conn:
        row = conn.execute(
            "select shobj_description(oid, 'pg_database') from pg_database where datname = %s", (name,)
        ).fetchone()
    return row[0] if row else None


def _set_comment(url: str, text: str) -> None:
    import psycopg
    from psycopg import sql

    from hub import pg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg.libpq(SHARED_URL), autocommit=True) as conn:
        conn.execute(sql.SQL("comment on database {} is {}").format(sql.Identifier(name), sql.Literal(text)))


def prepare_databases(persons: int, years: int, rebuild: bool) -> tuple[Dbs, dict[str, Any]]:
    """Seed, backfill and migrate the three databases, or reuse them when built with the same inputs."""
    import psycopg

    from hub import migrations, pg

    tag = f"{persons}p_{years}y"
    dbs = Dbs(*(pg.with_database(SHARED_URL, f"{DB_PREFIX}{kind}_{tag}") for kind in ("core", "query", "hub")))
    marker = f"bench_api {fingerprint(persons, years)}"
    info: dict[str, Any] = {"core": dbs.core, "query": dbs.query, "hub": dbs.hub, "fingerprint": marker}
    if not rebuild and _comment(dbs.core) == marker and _comment(dbs.query) == marker:
        log(f"reusing {DB_PREFIX}core_{tag} and {DB_PREFIX}query_{tag} (built with the same parameters)")
        info["reused"] = True
    else:
        from core import db as core_db
        from core.seed import seed
        from hub.crypto import ring
        from sync.backfill import backfill

        # The store's data keys are wrapped under the gateway's key-encryption key (as the sync worker of
        # a deployment shares HUB_CRYPTO__KEK with the web nodes).
        ring.configure(GATEWAY_ENV["HUB_CRYPTO__KEK"])

        info["reused"] = False
        for url in (dbs.core, dbs.query):
            pg.drop_database(url)
        log(f"seeding {persons:,} persons × {years} year(s) into {DB_PREFIX}core_{tag}")
        started = time.perf_counter()
        core_db.init(dbs.core, reset=True)
        info["seed_counts"] = seed(dbs.core, persons=persons, years=years, rng_seed=RNG_SEED)
        with psycopg.connect(pg.libpq(dbs.core), autocommit=True) as conn:
            conn.execute("vacuum analyze")
        info["seed_seconds"] = round(time.perf_counter() - started, 1)
        log(f"backfilling the query store {DB_PREFIX}query_{tag}")
        started = time.perf_counter()
        migrations.upgrade("query", dbs.query)
        info["backfill_counts"] = backfill(dbs.core, dbs.query)
        with psycopg.connect(pg.libpq(dbs.query), autocommit=True) as conn:
            conn.execute("vacuum analyze")
        info["backfill_seconds"] = round(time.perf_counter() - started, 1)
        _set_comment(dbs.core, marker)
        _set_comment(dbs.query, marker)
    migrations.upgrade("query", dbs.query)  # no-op unless a migration arrived since the store was built
    migrations.upgrade("hubdb", dbs.hub)
    with psycopg.connect(pg.libpq(dbs.query)) as conn:
        row = conn.execute("select count(*) from person_overview").fetchone()
    info["person_overview_rows"] = row[0] if row else 0
    return dbs, info


def signing_keys(dbs: Dbs) -> Any:
    """The hub DB's live signing keys (created if none): the ones the gateway process loads too."""
    import psycopg

    from hub import pg
    from hub.identity import keys
    from hub.identity.config import IdentityConfig
    from hub.settings import Settings

    with _env(gateway_env(dbs, None)):
        settings = Settings()
    kek = IdentityConfig.from_settings(settings.auth).kek
    with psycopg.connect(pg.libpq(dbs.hub)) as conn:
        return keys.ensure(conn, kek, datetime.now(UTC))


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def gateway_env(dbs: Dbs, settings_out: Path | None) -> dict[str, str]:
    env = {
        **GATEWAY_ENV,
        "HUB_CORE_DB_URL": dbs.core,
        "HUB_QUERY_DB_URL": dbs.query,
        "HUB_HUB_DB_URL": dbs.hub,
        "HUB_REDIS_URL": REDIS_URL,
    }
    if settings_out is not None:
        env["BENCH_SETTINGS_OUT"] = str(settings_out)
    return env


# -------------------------------------------------------------------------------------------------
# persons and their tokens


def pick_persons(dbs: Dbs, n: int) -> list[int]:
    import psycopg

    from hub import pg

    with psycopg.connect(pg.libpq(dbs.query)) as conn:
        ids = [r[0] for r in conn.execute("select person_id from person_overview order by person_id").fetchall()]
    rng = random.Random(RNG_SEED)
    return rng.sample(ids, min(n, len(ids)))


def client_ip(i: int) -> str:
    """A distinct client address per person (10.0.0.0/8), sent as X-Forwarded-For by the trusted proxy."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def person_subject(pid: int) -> Any:
    from hub.access.subject import Channel, Subject, SubjectKind
    from hub.identity.subjects import PERSON_SCOPES

    return Subject(
        SubjectKind.PERSON,
        f"bench-person-{pid}",
        APP_CLIENT,
        Channel.APP,
        frozenset(PERSON_SCOPES),
        person_id=pid,
        grant_id=f"gr_bench{pid:016d}",
        auth_methods=("pwd", "sms"),
    )


def write_persons(path: Path, persons: list[int], keys: Any | None, issuer: str, audience: str) -> None:
    """``person_id token ip`` per line; tokens are minted now (they live 5 minutes)."""
    from hub.identity.tokens import issue_access_token

    lines = []
    for i, pid in enumerate(persons, start=1):
        token = issue_access_token(person_subject(pid), keys, issuer=issuer, audience=audience) if keys else "-"
        lines.append(f"{pid} {token} {client_ip(i)}")
    path.write_text("\n".join(lines) + "\n")


# -------------------------------------------------------------------------------------------------
# requests (shared by the probes and the open-loop generator)


def build_request(mode: str, pid: int, token: str | None, ip: str, port: int) -> bytes:
    headers = [f"Host: 127.0.0.1:{port}", f"X-Forwarded-For: {ip}"]
    if mode in ("rest", "graphql") and token is not None:
        headers.append(f"Authorization: Bearer {token}")
    if mode == "rest":
        return (f"GET /api/v1/persons/{pid}/overview HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode()
    if mode == "bare":
        return (f"GET /persons/{pid}/overview HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode()
    query = GATEWAY_GQL if mode == "graphql" else PG_GQL
    body = json.dumps({"query": query, "variables": {"id": str(pid)}}, separators=(",", ":")).encode()
    headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("POST /graphql HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode() + body


# What a correct answer holds, per mode (checked on every response of the open-loop phase).
OK_MARK = {"rest": b'"person_id"', "bare": b'"person_id"', "graphql": b'"personId"', "postgraphile": b'"personId"'}


def answer_ok(mode: str, status: int, body: bytes) -> bool:
    return status == 200 and OK_MARK[mode] in body and b'"errors"' not in body


class HttpConn:
    """One keep-alive HTTP/1.1 connection driven by httptools (fast enough for one core to pace)."""

    def __init__(self) -> None:
        import httptools

        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.future: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, port: int) -> HttpConn:
        conn = cls()
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: _Proto(conn), "127.0.0.1", port)
        return conn

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_result((self.parser.get_status_code(), b"".join(self.body)))
        self.body = []

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.future = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.future

    def lost(self) -> None:
        self.transport = None
        if self.future is not None and not self.future.done():
            self.future.set_exception(ConnectionError("connection closed"))


class _Proto(asyncio.Protocol):
    def __init__(self, conn: HttpConn) -> None:
        self.conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.conn.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.lost()


async def _open_loop(cfg: dict[str, Any]) -> dict[str, Any]:
    """Requests on a fixed schedule (``rate``/s for ``seconds``); latency from each scheduled time."""
    mode, port, rate, seconds = cfg["mode"], cfg["port"], float(cfg["rate"]), float(cfg["seconds"])
    rows = [line.split() for line in Path(cfg["persons_file"]).read_text().splitlines() if line]
    reqs = [build_request(mode, int(p), t, ip, port) for p, t, ip in rows]
    idle: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(cfg["connections"]):
        idle.put_nowait(await HttpConn.open(port))
    clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution
    start = clock() + 0.05
    # The schedule's start on the machine-wide monotonic clock (the server's CPU sampler uses it).
    start_monotonic = time.monotonic() + (start - clock())
    total = int(rate * seconds)
    offsets: list[float] = [0.0] * total
    latencies: list[float] = [0.0] * total
    statuses: list[int] = [0] * total
    send_delay_max = 0.0
    pending: set[asyncio.Task[None]] = set()

    async def fire(i: int, scheduled: float) -> None:
        nonlocal send_delay_max
        conn = await idle.get()
        send_delay_max = max(send_delay_max, clock() - scheduled)
        try:
            if conn.transport is None:
                conn = await HttpConn.open(port)
            status, body = await conn.request(reqs[i % len(reqs)])
            statuses[i] = status if answer_ok(mode, status, body) else -status
        except (ConnectionError, OSError):
            statuses[i] = -1
            conn = await HttpConn.open(port)
        latencies[i] = clock() - scheduled
        offsets[i] = scheduled - start
        idle.put_nowait(conn)

    i = 0
    while i < total:
        now = clock()
        while i < total and start + i / rate <= now:
            task = asyncio.ensure_future(fire(i, start + i / rate))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        if i < total:
            # At least a millisecond: shorter sleeps spin the loop (uvloop's timers have millisecond
            # resolution) and the generator would take its whole core, pushing PostgreSQL and Redis onto
            # the server's. A request sent up to a tick late is still timed from its scheduled moment.
            await asyncio.sleep(max(TICK, start + i / rate - clock()))
    await asyncio.wait_for(asyncio.gather(*list(pending)), timeout=60)
    return {
        "rate": rate,
        "seconds": seconds,
        "connections": cfg["connections"],
        "achieved_rate": round(total / (clock() - start), 1),
        "max_send_delay_ms": round(send_delay_max * 1000, 2),
        "start_monotonic": start_monotonic,
        "offset_s": [round(x, 4) for x in offsets],
        "latency_ms": [round(x * 1000, 3) for x in latencies],
        "status": statuses,
    }


def loadgen_main(cfg_path: str) -> None:
    """Entry point of the open-loop generator process (pinned to the load core by taskset)."""
    import uvloop

    cfg = json.loads(Path(cfg_path).read_text())
    usage0 = os.times()
    result = uvloop.run(_open_loop(cfg))
    usage1 = os.times()
    result["generator_cpu_s"] = round((usage1.user - usage0.user) + (usage1.system - usage0.system), 2)
    Path(cfg["out"]).write_text(json.dumps(result))


async def _probe(port: int, requests: list[bytes]) -> list[tuple[int, bytes]]:
    conn = await HttpConn.open(port)
    out = []
    for r in requests:
        out.append(await conn.request(r))
    assert conn.transport is not None
    conn.transport.close()
    return out


async def _burst(port: int, request: bytes, total: int, connections: int) -> list[tuple[int, bytes]]:
    async def one_connection(n: int) -> list[tuple[int, bytes]]:
        return await _probe(port, [request] * n)

    parts = await asyncio.gather(*(one_connection(total // connections) for _ in range(connections)))
    return [answer for part in parts for answer in part]


def probe(port: int, requests: list[bytes]) -> list[tuple[int, bytes]]:
    return asyncio.run(_probe(port, requests))


# -------------------------------------------------------------------------------------------------
# servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_probe: bytes
    proc: subprocess.Popen[bytes] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def start(self, timeout: float = 90.0) -> None:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def _start(self, timeout: float) -> None:
        self.log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *self.argv],
            env={**os.environ, **self.env},
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                status, body = probe(self.port, [self.ready_probe])[0]
            except OSError:
                time.sleep(0.3)
                continue
            if status == 200:
                return
            raise RuntimeError(f"{self.name} answered {status}: {body[:500]!r}")
        raise RuntimeError(f"{self.name} did not start in {timeout} s: {self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (all its threads), from /proc."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        with contextlib.suppress(AttributeError):
            self.log_file.close()


def uvicorn_argv(app: str, port: int, *, factory: bool = False, gateway: bool = False) -> list[str]:
    """uvicorn as ``hub serve`` runs it for the gateway (``gateway.server``: its protocol, the proxy rule
    applied by the app from HUB_WEB__FORWARDED_ALLOW_IPS), stock uvicorn for the bare baseline."""
    argv = [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    if gateway:
        argv += ["--http", "gateway.server:GatewayProtocol", "--no-proxy-headers"]
    else:
        argv += ["--http", "httptools", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
    return argv + (["--factory"] if factory else [])


UVICORN_NOTES = {
    "workers": 1,
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "proxy_headers": "X-Forwarded-For trusted from 127.0.0.1 (the load generator plays the load balancer)",
}


# -------------------------------------------------------------------------------------------------
# measurements


def run_wrk(
    mode: str, port: int, persons_file: Path, seconds: int, connections: int, out: Path, start: int = 0
) -> dict[str, Any]:
    """wrk for ``seconds``; the rotation over the persons file begins at line ``start``."""
    path = "/api/v1/persons/1/overview" if mode == "rest" else "/persons/1/overview" if mode == "bare" else "/graphql"
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_PERSONS": str(persons_file), "BENCH_OUT": str(out)}
    env["BENCH_START"] = str(start)
    argv = ["taskset", "-c", LOADGEN_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(BASELINE / "rotate.lua"), f"http://127.0.0.1:{port}{path}"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    result["rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    result["connections"] = connections
    result["seconds"] = seconds
    non2xx = [line for line in proc.stdout.splitlines() if "Non-2xx" in line]
    result["non_2xx"] = int(non2xx[0].split(":")[1]) if non2xx else 0
    return result


def run_open_loop(
    mode: str, port: int, persons_file: Path, rate: float, seconds: int, connections: int, tmp: Path
) -> dict[str, Any]:
    out = tmp / f"open-{mode}.json"
    cfg: dict[str, Any] = {
        "mode": mode,
        "port": port,
        "rate": rate,
        "seconds": seconds,
        "connections": connections,
        "persons_file": str(persons_file),
        "out": str(out),
    }
    cfg_path = tmp / f"open-{mode}-cfg.json"
    cfg_path.write_text(json.dumps(cfg))
    argv = ["taskset", "-c", LOADGEN_CPU, PYTHON, "-m", "bench.api_bench", "--loadgen", str(cfg_path)]
    subprocess.run(argv, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


class CpuSampler:
    """The server's CPU seconds read every ``interval`` in a thread while a phase runs: the open loop's
    percentiles leave out its first pass over fresh tokens, and its CPU figures must cover the same window."""

    def __init__(self, server: Server, interval: float = 0.5) -> None:
        self.server, self.interval = server, interval
        self.samples: list[tuple[float, float]] = []  # (monotonic seconds, server CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.server.cpu_seconds()))
            if self._stop.wait(self.interval):
                self.samples.append((time.monotonic(), self.server.cpu_seconds()))
                return

    def window(self, start: float, from_s: float, offsets: list[float]) -> dict[str, Any]:
        """Server core busy and CPU per request from ``from_s`` seconds after ``start`` (the generator's
        schedule on the monotonic clock) to the last request sent, the requests counted by their offsets."""
        end = start + max(offsets, default=0.0)
        kept = [(t, c) for t, c in self.samples if start + from_s <= t <= end]
        if len(kept) < 2:
            return {}
        (t0, c0), (t1, c1) = kept[0], kept[-1]
        sent = sum(1 for off in offsets if t0 <= start + off < t1)
        return {
            "server_core_busy_pct": round(100 * (c1 - c0) / (t1 - t0), 1),
            "server_cpu_ms_per_request": round(1000 * (c1 - c0) / sent, 3) if sent else None,
        }


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def open_loop_stats(r: dict[str, Any], warmup: float) -> dict[str, Any]:
    kept = [
        (lat, st) for off, lat, st in zip(r["offset_s"], r["latency_ms"], r["status"], strict=True) if off >= warmup
    ]
    lat = sorted(x for x, _ in kept)
    windows: dict[int, list[float]] = {}
    for off, ms in zip(r["offset_s"], r["latency_ms"], strict=True):
        windows.setdefault(int(off // 5), []).append(ms)
    return {
        # every 5 s of the phase (warm-up included): shows whether a bad p99 is one stall or the whole run
        "p99_ms_per_5s": [round(percentile(sorted(v), 99), 1) for _, v in sorted(windows.items())],
        "measured_requests": len(kept),
        "errors": sum(1 for _, st in kept if st <= 0 or st != 200),
        "p50_ms": round(percentile(lat, 50), 2),
        "p90_ms": round(percentile(lat, 90), 2),
        "p99_ms": round(percentile(lat, 99), 2),
        "p999_ms": round(percentile(lat, 99.9), 2),
        "max_ms": round(lat[-1], 2) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
    }


def audit_rows(dbs: Dbs, chain_id: str) -> int:
    import psycopg

    from hub import pg

    with psycopg.connect(pg.libpq(dbs.hub)) as conn:
        row = conn.execute("select count(*) from hub.audit_log where chain_id = %s", (chain_id,)).fetchone()
    return int(row[0]) if row else 0


def measure(
    name: str,
    mode: str,
    server: Server,
    persons: list[int],
    keys: Any | None,
    args: argparse.Namespace,
    tmp: Path,
    issuer: str,
    audience: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Warm-up, closed loop (wrk), then open loop at half the closed-loop rate."""
    pfile = tmp / f"persons-{mode}.txt"
    quiet = wait_quiet(args.wait_idle)
    write_persons(pfile, persons, keys, issuer, audience)  # fresh tokens for this measurement
    warm = warm_up(name, mode, server.port, pfile, len(persons), args, tmp)
    before, cpu0 = cpu_ticks(), server.cpu_seconds()
    log(f"{name}: closed loop {args.seconds} s, {args.connections} connections")
    closed = run_wrk(mode, server.port, pfile, args.seconds, args.connections, tmp / f"wrk-{mode}.json")
    closed["machine_busy_pct"] = busy_pct(before, cpu_ticks())
    closed["server_cpu_s"] = round(server.cpu_seconds() - cpu0, 2)
    closed["server_cpu_ms_per_request"] = round(1000 * closed["server_cpu_s"] / max(1, closed["requests"]), 3)
    # What one free core would serve at this CPU cost: less sensitive to the machine's other load.
    closed["rps_per_cpu_second"] = (
        round(closed["requests"] / closed["server_cpu_s"], 1) if closed["server_cpu_s"] else None
    )
    rate = max(1.0, round(closed["rps"] / 2, 1))
    write_persons(pfile, persons, keys, issuer, audience)
    log(
        f"{name}: {closed['rps']:.0f} req/s max; open loop at {rate:.0f} req/s, "
        f"{args.seconds} s after a first pass over fresh tokens"
    )
    before = cpu_ticks()
    # Long enough that the steady state after the first pass over the fresh tokens lasts ``seconds``.
    first_pass = len(persons) / rate
    length = args.seconds + math.ceil(first_pass)
    with CpuSampler(server) as cpu:
        raw = run_open_loop(mode, server.port, pfile, rate, length, args.open_connections, tmp)
    raw["machine_busy_pct"] = busy_pct(before, cpu_ticks())
    # Every caller's token is new at the start of the phase (fresh tokens, above): until each has been seen
    # once the gateway verifies a signature on every request, a cold start at well over half its maximum
    # load. The percentiles are those of the steady state that follows (each token verified once, as a
    # client reuses its token for its five-minute life); the cold first pass is reported beside them.
    stats = open_loop_stats(raw, max(args.open_warmup, first_pass + 1.0))
    stats["warmup_excluded_s"] = round(max(args.open_warmup, first_pass + 1.0), 2)
    # At half the closed loop's rate the server's batches are small (a few requests per loop pass), so a
    # request costs more CPU than under the closed loop: how busy its core was in the same window.
    stats.update(cpu.window(raw.pop("start_monotonic"), stats["warmup_excluded_s"], raw["offset_s"]))
    stats["with_first_pass"] = {
        **open_loop_stats(raw, args.open_warmup),
        "warmup_excluded_s": args.open_warmup,
        "first_pass_s": round(first_pass, 2),
    }
    cold = stats["with_first_pass"]
    log(
        f"{name}: p50 {stats['p50_ms']} ms, p99 {stats['p99_ms']} ms, errors {stats['errors']} "
        f"(with the first pass over fresh tokens: p50 {cold['p50_ms']} ms, p99 {cold['p99_ms']} ms)"
    )
    return {
        "server": name,
        "mode": mode,
        "warmup": warm,
        "closed_loop": closed,
        "open_loop": {**{k: v for k, v in raw.items() if k not in ("offset_s", "latency_ms", "status")}, **stats},
        "background": {**quiet, "loadavg_at_start": loadavg()},
        "raw_open_loop": {k: raw[k] for k in ("offset_s", "latency_ms", "status")},
        **(extra or {}),
    }


MAX_WARMUP_SECONDS = 120


def warm_up(
    name: str, mode: str, port: int, pfile: Path, tokens: int, args: argparse.Namespace, tmp: Path, start: int = 0
) -> dict[str, Any]:
    """Closed-loop warm-up of at least ``args.warmup`` seconds that goes on (continuing the rotation) until
    every person of the file was asked for once: the closed loop that follows measures the steady state,
    as the open loop's percentiles do (every token seen once, as a client reuses its token for its
    five-minute life), not the gateway's cold first signature check of 20,000 new tokens. The baselines
    get the same warm-up. What it took is recorded."""
    done, seconds, chunks = 0, 0, []
    while True:
        log(f"{name}: warm-up {args.warmup} s (requests so far {done:,} of the {tokens:,} fresh tokens)")
        out = tmp / f"wrk-warm-{mode}.json"
        chunk = run_wrk(mode, port, pfile, args.warmup, args.connections, out, start=start + done)
        chunk.pop("histogram_us")
        chunks.append(chunk)
        done += chunk["requests"]
        seconds += args.warmup
        if done >= tokens or seconds >= MAX_WARMUP_SECONDS:
            break
    return {
        "seconds": seconds,
        "requests": done,
        "errors": {k: sum(c["errors"][k] for c in chunks) for k in chunks[0]["errors"]},
        "every_token_seen": done >= tokens,
        "rps_per_chunk": [c["rps"] for c in chunks],
        "chunks": chunks,
    }


def gateway_proofs(
    port: int, persons: list[int], probe_person: int, keys: Any, issuer: str, audience: str
) -> dict[str, Any]:
    """Before the load: the token check, the ownership rule and the rate limit answer as they should."""
    from hub.identity.tokens import SigningKeys, issue_access_token

    a, b = persons[0], persons[1]
    good = issue_access_token(person_subject(a), keys, issuer=issuer, audience=audience)
    forged = issue_access_token(person_subject(a), SigningKeys.generate(), issuer=issuer, audience=audience)
    reqs = [
        build_request("rest", a, good, "10.255.0.1", port),
        build_request("rest", a, None, "10.255.0.1", port),
        build_request("rest", a, forged, "10.255.0.1", port),
        build_request("rest", b, good, "10.255.0.1", port),
        build_request("graphql", a, good, "10.255.0.1", port),
    ]
    answers = probe(port, reqs)
    # A person outside the measured set asks for their own overview 150 times at once: the
    # per-subject limit (burst 60 for reads, then 20/s) must refuse some with 429.
    c = probe_person
    own = issue_access_token(person_subject(c), keys, issuer=issuer, audience=audience)
    burst = asyncio.run(_burst(port, build_request("rest", c, own, "10.255.0.2", port), 150, 30))
    return {
        "own_overview_with_token": answers[0][0],
        "no_token": answers[1][0],
        "token_signed_by_unknown_key": answers[2][0],
        "other_persons_overview": answers[3][0],
        "graphql_own_overview": answers[4][0] if answer_ok("graphql", *answers[4]) else -answers[4][0],
        "rate_limit_burst_150_same_person_30_connections": {
            "ok_200": sum(1 for s, _ in burst if s == 200),
            "refused_429": sum(1 for s, _ in burst if s == 429),
        },
    }


def histogram_percentile(hist: list[list[int]], p: float) -> float:
    total = sum(c for _, c in hist)
    want = p / 100 * total
    seen = 0
    for v, c in hist:
        seen += c
        if seen >= want:
            return v / 1000
    return float("nan")


def bare_server(dbs: Dbs, persons: list[int], tmp: Path) -> Server:
    from hub import pg

    port = free_port()
    return Server(
        "bare FastAPI",
        uvicorn_argv("bench.api_baseline.bare:app", port),
        {"BENCH_QUERY_DSN": pg.libpq(dbs.query)},
        port,
        tmp / f"bare-{port}.log",
        build_request("bare", persons[0], None, "10.0.0.1", port),
        notes={**UVICORN_NOTES, "pool": "1-10 connections, autocommit", "auth": "none", "audit": "none"},
    )


def postgraphile_server(dbs: Dbs, persons: list[int], tmp: Path) -> Server:
    port = free_port()
    argv = ["node", str(BASELINE / "node_modules/postgraphile/cli.js"), "-c", dbs.query, "-s", "public"]
    argv += ["-n", "127.0.0.1", "-p", str(port), "--disable-query-log", "--max-pool-size", "10"]
    argv += ["--disable-default-mutations"]
    return Server(
        "PostGraphile 4",
        argv,
        {"NODE_ENV": "production"},
        port,
        tmp / f"postgraphile-{port}.log",
        build_request("postgraphile", persons[0], None, "10.0.0.1", port),
        notes={
            "argv": argv[2:],
            "NODE_ENV": "production",
            "process": "one node process",
            "auth": "none (no JWT configured)",
            "audit": "none",
        },
    )


def gateway_server(dbs: Dbs, tmp: Path, settings_path: Path | None) -> Server:
    port = free_port()
    return Server(
        "gateway",
        uvicorn_argv("bench.api_bench:gateway_app", port, factory=True, gateway=True),
        gateway_env(dbs, settings_path),
        port,
        tmp / f"gateway-{port}.log",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        notes={
            **UVICORN_NOTES,
            "http": "gateway.server:GatewayProtocol (uvicorn's httptools protocol, fast reads before the ASGI call)",
            "proxy_headers": "X-Forwarded-For trusted from 127.0.0.1 by the gateway (HUB_WEB__FORWARDED_ALLOW_IPS)",
            "env": {k: v for k, v in GATEWAY_ENV.items() if "KEY" not in k and "PASSWORD" not in k},
        },
    )


def run_baseline(
    server: Server,
    mode: str,
    persons: list[int],
    args: argparse.Namespace,
    tmp: Path,
    issuer: str,
    audience: str,
) -> dict[str, Any]:
    """One baseline (``bare_server`` or ``postgraphile_server``) alone on core 0: started, measured, stopped."""
    log(f"starting {server.name} on core 0")
    server.start()
    try:
        run = measure(server.name, mode, server, persons, None, args, tmp, issuer, audience)
    finally:
        server.stop()
    run["server_settings"] = server.notes
    return run


def run_gateway(
    dbs: Dbs,
    persons: list[int],
    probe_person: int,
    keys: Any,
    args: argparse.Namespace,
    tmp: Path,
    issuer: str,
    audience: str,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """REST, then GraphQL, on one gateway process; with the proofs that token check, limits and audit are on."""
    settings_path = tmp / "gateway-settings.json"
    gw = gateway_server(dbs, tmp, settings_path)
    port = gw.port
    log("starting the gateway on core 0 (production settings)")
    gw.start()
    runs = []
    try:
        proof = json.loads(settings_path.read_text())
        chain = proof["audit"]["chain_id"]
        proof["probes"] = gateway_proofs(port, persons, probe_person, keys, issuer, audience)
        log(f"gateway probes: {proof['probes']}")
        for name, mode in (("gateway REST", "rest"), ("gateway GraphQL", "graphql")):
            if mode not in args.modes:
                continue
            a0 = audit_rows(dbs, chain)
            run = measure(name, mode, gw, persons, keys, args, tmp, issuer, audience)
            time.sleep(1.0)
            answered = sum(run[k]["requests"] - run[k]["errors"]["status"] for k in ("warmup", "closed_loop"))
            answered += sum(1 for st in run["raw_open_loop"]["status"] if st == 200)
            run["audit"] = {
                "rows_written": audit_rows(dbs, chain) - a0,
                "answers_200_seen_by_the_load": answered,
                "note": "rows of this process's chain during warm-up, closed and open loop; a few more than "
                "the answers counted, as wrk stops counting requests still in flight when its time is up",
            }
            run["server_settings"] = gw.notes
            runs.append(run)
    finally:
        gw.stop()
    batches = Path(str(settings_path) + ".batches")
    if batches.exists():
        # HUB_BATCH_READS: how many calls the limiter checks and overview reads of this process's whole run
        # (probes, warm-ups, both modes) shared; items / batches is the mean batch size.
        proof["batching"] = json.loads(batches.read_text())
    return runs, proof


# -------------------------------------------------------------------------------------------------
# alternating rounds

# The closed-loop measurements of the alternating phase, in the order of the first round (each later round
# starts one further along, so no server always runs first or last): (mode, server).
ALTERNATING = (("bare", "bare"), ("postgraphile", "postgraphile"), ("rest", "gateway"), ("graphql", "gateway"))
# Tokens live 5 minutes: fresh ones (and a warm-up over them) before a round that would start later than this.
TOKEN_REFRESH_S = 180.0


def run_alternating(
    dbs: Dbs, persons: list[int], keys: Any, args: argparse.Namespace, tmp: Path, issuer: str, audience: str
) -> dict[str, Any]:
    """All servers up at once (each pinned to core 0, idle while another is loaded), then ``args.rounds``
    closed-loop rounds of ``args.round_seconds`` that take the servers in turn: when the machine's speed
    drifts (a shared host), it drifts for every server alike, so the ratios of a round compare like with
    like. The throughput targets are judged on the medians of the rounds' ratios."""
    servers = {
        "bare": bare_server(dbs, persons, tmp),
        "postgraphile": postgraphile_server(dbs, persons, tmp),
        "gateway": gateway_server(dbs, tmp, None),
    }
    # REST and GraphQL share one file: one token per caller for both, as a client holds one token (two sets
    # would be 40,000 tokens cycling through a memory of 20,000, and every round would begin cold).
    files = {mode: tmp / f"alternating-{name if name == 'gateway' else mode}.txt" for mode, name in ALTERNATING}
    offsets = dict.fromkeys(files.values(), 0)
    rounds: list[dict[str, Any]] = []
    try:
        for srv in servers.values():
            srv.start()
        minted = -math.inf
        for i in range(args.rounds):
            if time.monotonic() - minted > TOKEN_REFRESH_S:
                minted = time.monotonic()
                for path in set(files.values()):
                    write_persons(path, persons, keys if "gateway" in path.name else None, issuer, audience)
                    offsets[path] = 0
                for mode, name in ALTERNATING:
                    port, path = servers[name].port, files[mode]
                    warm = warm_up(f"alternating {mode}", mode, port, path, len(persons), args, tmp, offsets[path])
                    offsets[path] += warm["requests"]
            log(f"alternating round {i + 1} of {args.rounds}: {args.round_seconds} s per server")
            row: dict[str, Any] = {}
            for mode, name in ALTERNATING[i % len(ALTERNATING) :] + ALTERNATING[: i % len(ALTERNATING)]:
                srv = servers[name]
                cpu0 = srv.cpu_seconds()
                out = tmp / f"wrk-alternating-{mode}.json"
                path = files[mode]
                r = run_wrk(mode, srv.port, path, args.round_seconds, args.connections, out, offsets[path])
                offsets[path] += r["requests"]
                cpu = srv.cpu_seconds() - cpu0
                row[mode] = {
                    "rps": r["rps"],
                    "requests": r["requests"],
                    "non_2xx": r["non_2xx"],
                    "errors": r["errors"],
                    "server_cpu_ms_per_request": round(1000 * cpu / max(1, r["requests"]), 3),
                    "latency_us": r["latency_us"],
                }
            row["rest_vs_postgraphile"] = round(row["rest"]["rps"] / row["postgraphile"]["rps"], 3)
            row["graphql_vs_postgraphile"] = round(row["graphql"]["rps"] / row["postgraphile"]["rps"], 3)
            log(
                f"round {i + 1}: "
                + ", ".join(f"{m} {row[m]['rps']:.0f} req/s" for m, _ in ALTERNATING)
                + f"; REST {row['rest_vs_postgraphile']}×, GraphQL {row['graphql_vs_postgraphile']}× PostGraphile"
            )
            rounds.append(row)
    finally:
        for srv in servers.values():
            srv.stop()
    median = {
        mode: {
            "rps": statistics.median(r[mode]["rps"] for r in rounds),
            "server_cpu_ms_per_request": statistics.median(r[mode]["server_cpu_ms_per_request"] for r in rounds),
        }
        for mode, _ in ALTERNATING
    }
    return {
        "rounds": rounds,
        "round_seconds": args.round_seconds,
        "connections": args.connections,
        "median": median,
        "rest_vs_postgraphile_median": statistics.median(r["rest_vs_postgraphile"] for r in rounds),
        "graphql_vs_postgraphile_median": statistics.median(r["graphql_vs_postgraphile"] for r in rounds),
        "non_2xx": sum(r[m]["non_2xx"] for r in rounds for m, _ in ALTERNATING),
    }


# -------------------------------------------------------------------------------------------------
# profile


def profile_gateway(dbs: Dbs, args: argparse.Namespace, persons: list[int], keys: Any, tmp: Path) -> dict[str, Any]:
    """pyinstrument inside the gateway process (still alone on core 0) under closed-loop load, per mode."""
    out: dict[str, Any] = {}
    issuer, audience = GATEWAY_ENV["HUB_AUTH__ISSUER"], "hub"
    for mode in ("rest", "graphql"):
        port = free_port()
        report = tmp / f"profile-{mode}.json"
        srv = Server(
            f"gateway-profile-{mode}",
            uvicorn_argv("bench.api_bench:gateway_app", port, factory=True, gateway=True),
            {**gateway_env(dbs, None), "BENCH_PROFILE_OUT": str(report), "BENCH_PROFILE_DELAY": str(args.warmup + 1)},
            port,
            tmp / f"gateway-profile-{mode}.log",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        pfile = tmp / f"persons-profile-{mode}.txt"
        write_persons(pfile, persons, keys, issuer, audience)
        try:
            srv.start()
        except RuntimeError as exc:
            out[mode] = {"error": str(exc)[-3000:]}
            continue
        try:
            log(f"profiling the gateway ({mode}) for {args.profile_seconds} s after a {args.warmup} s warm-up")
            run_wrk(mode, port, pfile, args.warmup, args.connections, tmp / f"wrk-profile-warm-{mode}.json")
            time.sleep(1.5)  # the profiler starts warm-up + 1 s after startup
            cpu0 = srv.cpu_seconds()
            wrk = run_wrk(mode, port, pfile, args.profile_seconds, args.connections, tmp / f"wrk-profile-{mode}.json")
            cpu = srv.cpu_seconds() - cpu0
        finally:
            srv.stop()
        out[mode] = json.loads(report.read_text()) if report.exists() else {"error": srv.log_path.read_text()[-3000:]}
        out[mode]["requests"] = wrk["requests"]
        out[mode]["server_cpu_ms_per_request"] = round(1000 * cpu / max(1, wrk["requests"]), 3)
    return out


# -------------------------------------------------------------------------------------------------
# main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=100_000, help="persons in the seeded province (default 100,000)")
    ap.add_argument("--years", type=int, default=1, help="years of contribution history (default 1)")
    ap.add_argument("--quick", action="store_true", help="trial run: 2,000 persons, 5 s phases")
    ap.add_argument("--tokens", type=int, default=20_000, help="persons (tokens) the load rotates over")
    ap.add_argument("--seconds", type=int, default=30, help="length of each closed- and open-loop phase")
    ap.add_argument("--warmup", type=int, default=5, help="closed-loop warm-up before each measurement")
    ap.add_argument("--open-warmup", type=float, default=2.0, help="open-loop seconds left out of percentiles")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (closed loop)")
    ap.add_argument("--open-connections", type=int, default=64, help="connections of the open-loop generator")
    ap.add_argument("--wait-idle", type=float, default=120, help="seconds to wait for a quiet machine per server")
    ap.add_argument("--rebuild", action="store_true", help="seed and backfill even when reusable databases exist")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto", help="pyinstrument the gateway")
    ap.add_argument("--profile-seconds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep-tmp", action="store_true", help="keep the work directory (server logs, wrk output)")
    ap.add_argument("--servers", default="bare,postgraphile,gateway", help="comma list (all three by default)")
    ap.add_argument("--modes", default="rest,graphql", help="gateway modes to measure (both by default)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating closed-loop rounds (0: none)")
    ap.add_argument("--round-seconds", type=int, default=10, help="closed loop per server and round")
    ap.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.loadgen:
        loadgen_main(args.loadgen)
        return 0
    if args.quick:
        args.persons, args.seconds, args.warmup, args.open_warmup = 2000, 5, 2, 1.0
        args.profile_seconds, args.wait_idle = 5, 10
        args.rounds, args.round_seconds = min(args.rounds, 2), 3
        if args.tokens == 20_000:
            args.tokens = 2000
    args.servers = set(args.servers.split(","))
    args.modes = set(args.modes.split(","))
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs two cores: one for the servers, one for the load")
    if not (BASELINE / "node_modules/postgraphile").exists():
        raise SystemExit("PostGraphile missing: (cd bench/api_baseline && npm ci)")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the servers
    started_at = datetime.now(UTC)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    result: dict[str, Any] = {
        "benchmark": "api",
        "started_at": started_at.isoformat(),
        "quick": args.quick,
        "machine": {**machine_info(), "loadavg_before": loadavg()},
        "versions": versions(),
    }
    log(f"machine load average before: {result['machine']['loadavg_before']}")
    dbs, db_info = prepare_databases(args.persons, args.years, args.rebuild)
    with _env(gateway_env(dbs, None)):
        _settings_class()()  # fail now, not after the baselines, if production refuses the settings
    keys = signing_keys(dbs)
    persons = pick_persons(dbs, args.tokens + 1)
    probe_person = persons.pop()  # outside the rotation: the rate-limit probe must not touch its persons
    issuer, audience = GATEWAY_ENV["HUB_AUTH__ISSUER"], "hub"
    result["data"] = {**db_info, "persons_seeded": args.persons, "years": args.years, "persons_rotated": len(persons)}
    result["settings"] = {
        "server_cpu": SERVER_CPU,
        "loadgen_cpu": LOADGEN_CPU,
        "closed_loop": {"tool": "wrk", "threads": 1, "connections": args.connections, "seconds": args.seconds},
        "open_loop": {
            "tool": "bench.api_bench paced generator (uvloop + httptools); wrk cannot hold a fixed rate",
            "rate": "half of the same server's closed-loop throughput",
            "connections": args.open_connections,
            "seconds": args.seconds,
            "warmup_excluded_s": f"the first pass over the fresh tokens (tokens / rate) + 1 s, at least "
            f"{args.open_warmup}; the phase is that much longer; percentiles from {args.open_warmup} s on (the "
            "cold first pass, every request verifying a new token) under with_first_pass",
            "generator_tick_s": TICK,
            "latency_from": "scheduled send time (no coordinated omission)",
        },
        "warmup_s": f"{args.warmup} s chunks until every rotated token was asked for once "
        f"(at most {MAX_WARMUP_SECONDS} s)",
        "request_rotation": f"{len(persons)} persons, each with its own access token and client address",
        "redis": REDIS_URL,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench_api_"))
    runs: list[dict[str, Any]] = []
    proof: dict[str, Any] = {}
    try:
        if "bare" in args.servers:
            runs.append(run_baseline(bare_server(dbs, persons, tmp), "bare", persons, args, tmp, issuer, audience))
        if "postgraphile" in args.servers:
            pgl = postgraphile_server(dbs, persons, tmp)
            runs.append(run_baseline(pgl, "postgraphile", persons, args, tmp, issuer, audience))
        if "gateway" in args.servers:
            gw_runs, proof = run_gateway(dbs, persons, probe_person, keys, args, tmp, issuer, audience)
            runs += gw_runs
            result["gateway_settings_in_effect"] = proof
        if args.rounds > 0 and {"bare", "postgraphile", "gateway"} <= args.servers:
            result["alternating"] = run_alternating(dbs, persons, keys, args, tmp, issuer, audience)
    finally:
        result["machine"]["loadavg_after"] = loadavg()

    result["runs"] = runs
    by = {r["mode"]: r for r in runs}
    missed = True
    if {"bare", "postgraphile", "rest", "graphql"} <= set(by):
        result["summary"] = summarize(by, result.get("alternating"))
        missed = not all(result["summary"]["targets"].values())
    if args.profile == "always" or (args.profile == "auto" and missed and "gateway" in args.servers):
        try:
            result["profile"] = profile_gateway(dbs, args, persons, keys, tmp)
        except Exception as exc:  # the measurements stand without the profile
            result["profile"] = {"error": f"{type(exc).__name__}: {exc}"}
    if not args.keep_tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    result["finished_at"] = datetime.now(UTC).isoformat()
    result["machine"]["loadavg_end"] = loadavg()

    RESULTS_DIR.mkdir(exist_ok=True)
    out = args.out or RESULTS_DIR / f"api-{stamp}{'-quick' if args.quick else ''}.json"
    out.write_text(dump_json(result))
    print_table(result)
    log(f"results: {out}")
    return 0


def dump_json(obj: Any) -> str:
    """Indented JSON with every array of numbers (and of number pairs) on one line: raw samples stay compact."""
    text = json.dumps(obj, ensure_ascii=False, indent=1)
    text = re.sub(r"\[\s*(-?[\d.]+(?:,\s*-?[\d.]+)*)\s*\]", lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", text)
    text = re.sub(
        r"\[\s*(\[[-\d.,]+\](?:,\s*\[[-\d.,]+\])*)\s*\]", lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", text
    )
    return text + "\n"


def summarize(by: dict[str, dict[str, Any]], alternating: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ratios of the one-measurement-per-server phase and the targets. With the alternating rounds, the
    throughput targets are judged on their median ratios (robust to the machine's drift between servers);
    the single measurements' ratios stay beside them."""
    rps = {mode: r["closed_loop"]["rps"] for mode, r in by.items()}
    per_cpu = {mode: r["closed_loop"]["rps_per_cpu_second"] or float("nan") for mode, r in by.items()}
    summary: dict[str, Any] = {
        "rest_vs_postgraphile": round(rps["rest"] / rps["postgraphile"], 3),
        "graphql_vs_postgraphile": round(rps["graphql"] / rps["postgraphile"], 3),
        "rest_vs_bare": round(rps["rest"] / rps["bare"], 3),
        "per_server_cpu_second": {
            "rest_vs_postgraphile": round(per_cpu["rest"] / per_cpu["postgraphile"], 3),
            "graphql_vs_postgraphile": round(per_cpu["graphql"] / per_cpu["postgraphile"], 3),
            "rest_vs_bare": round(per_cpu["rest"] / per_cpu["bare"], 3),
        },
    }
    # Latency is counted from each request's scheduled send, so a generator starved on the load core (which
    # PostgreSQL and Redis share) charges its own lateness to the server: how late it was, beside the p99.
    summary["open_loop_generator_max_late_ms"] = {
        mode: r["open_loop"].get("max_send_delay_ms") for mode, r in by.items()
    }
    rest_x, graphql_x = summary["rest_vs_postgraphile"], summary["graphql_vs_postgraphile"]
    if alternating is not None:
        rest_x, graphql_x = alternating["rest_vs_postgraphile_median"], alternating["graphql_vs_postgraphile_median"]
        summary["alternating_rounds"] = {
            "rest_vs_postgraphile_median": rest_x,
            "graphql_vs_postgraphile_median": graphql_x,
            "rounds": len(alternating["rounds"]),
        }
    summary["throughput_targets_judged_on"] = "alternating rounds" if alternating is not None else "single runs"
    summary["targets"] = {
        "rest_1.5x_postgraphile": rest_x >= TARGET_REST_X,
        "graphql_1.0x_postgraphile": graphql_x >= TARGET_GRAPHQL_X,
        "rest_p99_under_25ms_at_half_max": _p99_target(by["rest"]["open_loop"]),
        "graphql_p99_under_25ms_at_half_max": _p99_target(by["graphql"]["open_loop"]),
    }
    return summary


def _p99_target(open_loop: dict[str, Any]) -> bool:
    return bool(open_loop["p99_ms"] < TARGET_P99_MS)


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"person overview, {result['data']['persons_seeded']:,} persons, server on core 0")
    cols: tuple[str, ...] = ("server", "max req/s", "× PostGraphile", "CPU ms/req", "open-loop req/s")
    cols += ("open CPU ms/req", "core busy", "p50 ms", "p99 ms", "errors")
    for col in cols:
        t.add_column(col, justify="left" if col == "server" else "right")
    pgl = next((r["closed_loop"]["rps"] for r in result["runs"] if r["mode"] == "postgraphile"), float("nan"))
    for r in result["runs"]:
        c, o = r["closed_loop"], r["open_loop"]
        t.add_row(
            r["server"],
            f"{c['rps']:,.0f}",
            f"{c['rps'] / pgl:.2f}",
            f"{c['server_cpu_ms_per_request']:.2f}",
            f"{o['achieved_rate']:,.0f}",
            f"{o.get('server_cpu_ms_per_request') or float('nan'):.2f}",
            f"{o.get('server_core_busy_pct', float('nan')):.0f}%",
            f"{o['p50_ms']:.1f}",
            f"{o['p99_ms']:.1f}",
            str(o["errors"] + sum(c["errors"].values())),
        )
    Console(width=120).print(t)
    alt = result.get("alternating")
    if alt is not None:
        a = Table(title=f"alternating rounds ({alt['round_seconds']} s per server and round): req/s")
        for col in ("round", *(m for m, _ in ALTERNATING), "REST × PG", "GraphQL × PG"):
            a.add_column(col, justify="right")
        for i, row in enumerate(alt["rounds"], start=1):
            cells = [f"{row[m]['rps']:,.0f}" for m, _ in ALTERNATING]
            a.add_row(str(i), *cells, f"{row['rest_vs_postgraphile']:.2f}", f"{row['graphql_vs_postgraphile']:.2f}")
        cells = [f"{alt['median'][m]['rps']:,.0f}" for m, _ in ALTERNATING]
        rest_x, graphql_x = alt["rest_vs_postgraphile_median"], alt["graphql_vs_postgraphile_median"]
        a.add_row("median", *cells, f"{rest_x:.2f}", f"{graphql_x:.2f}")
        Console(width=120).print(a)
    if "summary" in result:
        targets = result["summary"]["targets"]
        print("targets:", ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))
        late = result["summary"]["open_loop_generator_max_late_ms"]
        print("open-loop generator, latest send (ms):", ", ".join(f"{k} {v}" for k, v in late.items()))
    m = result["machine"]
    print(f"load average before {m['loadavg_before']}, after {m['loadavg_after']} (machine shared)")


if __name__ == "__main__":
    sys.exit(main())

"""The ASGI application factory: the one door every channel comes through."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool
from starlette.routing import BaseRoute

import channels
import mobile_api
import portal_web
from gateway import api, fast, identity
from gateway.api import deps as api_deps
from gateway.api.auth import authenticate
from hub import pg
from hub.crypto import check as key_check
from hub.crypto import columns as sealed_columns
from hub.crypto import keys as crypto_keys
from hub.crypto import ring as crypto_ring
from hub.crypto.rotation import HUB
from hub.db import Pools
from hub.http.limits import RequestLimitsMiddleware
from hub.runtime import Endpoints
from hub.settings import Settings
from portal_web import admin as portal_admin
from portal_web import collect as portal_collect
from portal_web import person_services, workbench_person
from portal_web import verify as certificate_verify
from sync.worker import SyncWorker, read_status

log = logging.getLogger(__name__)


async def seal_hub_leftovers(app: FastAPI) -> None:
    """The data step of the hub DB's encrypted columns: seal phones written before they were encrypted."""

    def run() -> int:
        with pg.connect(app.state.endpoints.hub_db_url) as conn:
            return sealed_columns.seal_leftovers(conn, HUB)

    try:
        done = await asyncio.to_thread(run)
    except psycopg.Error as exc:  # not migrated yet, or down: the next start (or `hub keys seal`) does it
        log.warning("hub DB data step not run at startup: %s", type(exc).__name__)
        return
    if done:
        log.info("sealed %d plaintext values left in the hub DB", done)


class CacheMetrics(Collector):
    """The per-process memories of the hot path, read when /metrics is scraped: how full each is and how
    many lookups it answered (``hit``) or passed on (``miss``). A hit ratio that falls while the entries
    stay at the limit says the limit is below what the process sees (HUB_AUTH__VERIFIED_TOKEN_ENTRIES,
    HUB_READ_CACHE_ENTRIES)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only (the caches appear with the app's startup)

    def collect(self) -> Iterator[Any]:
        identity = getattr(self.state, "identity", None)
        caches = (
            ("hub_token_cache", "verified access tokens", getattr(identity, "verified", None)),
            ("hub_read_cache", "subjects with cached hot read models", getattr(self.state, "read_cache", None)),
        )
        for name, what, cache in caches:
            if cache is None:
                continue
            yield GaugeMetricFamily(f"{name}_entries", f"{what} held by this process", value=len(cache))
            lookups = CounterMetricFamily(f"{name}_lookups", f"lookups of {what}", labels=["result"])
            lookups.add_metric(["hit"], cache.hits)
            lookups.add_metric(["miss"], cache.misses)
            yield lookups


def create_app(settings: Settings, endpoints: Endpoints) -> FastAPI:
    """Build the app for ``settings``; the sync worker runs inside it when ``settings.sync_in_web_process``."""
    registry = CollectorRegistry()
    lag_gauge = Gauge(
        "hub_sync_lag_seconds", "Age of the oldest committed core change not yet applied", registry=registry
    )
    pending_gauge = Gauge("hub_sync_pending_changes", "Committed core changes not yet applied", registry=registry)
    applied_gauge = Gauge("hub_sync_applied_changes", "Core changes applied since the last backfill", registry=registry)
    fault_gauge = Gauge("hub_sync_fault", "1 while the sync worker is stopped by a bad change", registry=registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pools = await Pools.open(
            endpoints.hub_db_url,
            endpoints.query_db_url,
            replica_urls=settings.query_replica_urls,
            max_replica_lag=settings.query_replica_max_lag_seconds,
            replica_check_seconds=settings.query_replica_check_seconds,
        )
        # Short timeouts, no long retry loops: callers decide how to degrade when Redis is down.
        app.state.redis = aioredis.Redis.from_url(
            endpoints.redis_url, socket_timeout=0.25, socket_connect_timeout=1.0, retry_on_timeout=False
        )
        try:  # this node's KEK must unwrap both databases' keys, or every sealed read would fail
            await _require_keys(app.state.pools, settings.crypto.kek.get_secret_value())
        except BaseException:
            await app.state.redis.aclose()
            await app.state.pools.close()
            raise
        for hook in app.state.startup_hooks:
            await hook(app)
        _settle_garbage_collector()
        stop = threading.Event()
        thread: threading.Thread | None = None
        if settings.sync_in_web_process:
            worker = SyncWorker.from_settings(endpoints.core_db_url, endpoints.query_db_url, settings.sync)
            thread = threading.Thread(target=worker.run, args=(stop,), name="sync", daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)
            for hook in reversed(app.state.shutdown_hooks):
                await hook(app)
            await app.state.redis.aclose()
            await app.state.pools.close()
            gc.unfreeze()  # a process that builds apps again (the tests) lets this one's heap be collected

    app = fast.GatewayApp(title="机关事业单位养老保险公共服务平台", version="0.1.0", lifespan=lifespan)

    def sync_status() -> dict[str, Any]:
        with (
            pg.connect(endpoints.core_db_url, autocommit=True) as core,
            pg.connect(endpoints.query_db_url) as store,
        ):
            status = read_status(core, store, settings.sync.lag_alarm_seconds)
        cp = status.checkpoint
        lag_gauge.set(status.lag_seconds)
        pending_gauge.set(status.pending)
        applied_gauge.set(cp.applied_changes if cp else 0)
        fault_gauge.set(1 if status.fault else 0)
        return {
            "position": {
                "snapshot": cp.prev_snapshot,
                "round_snapshot": cp.cur_snapshot,
                "applied_changes": cp.applied_changes,
                "last_change_id": cp.last_change_id,
                "applied_at": cp.applied_at.isoformat() if cp.applied_at else None,
            }
            if cp
            else None,
            "pending_changes": status.pending,
            "lag_seconds": round(status.lag_seconds, 3),
            "alarm": status.alarm,
            "fault": {"change_id": status.fault[0], "reason": status.fault[1]} if status.fault else None,
        }

    @app.get("/healthz", tags=["运维"])
    def healthz() -> JSONResponse:
        """Liveness and sync state: position, lag and any fault of the sync worker."""
        try:
            sync = sync_status()
        except Exception as exc:  # a database is down: report it, never raise from a health check
            log.warning("health check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "degraded" if sync["alarm"] else "ok", "sync": sync})

    @app.get("/readyz", tags=["运维"])
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the hub DB and the query store answer and this node's KEK unwraps their current keys
        (``…_keys``: another node may have rotated them under a KEK this one lacks); Redis is reported but
        optional (reads degrade). 503 names the failing checks."""
        checks: dict[str, str] = {}
        pools: Pools = request.app.state.pools
        kek = settings.crypto.kek.get_secret_value()
        for name, _, pool, table in _keyed_databases(pools):
            keys_check = f"{name}_keys"
            try:
                async with pool.connection(timeout=2) as conn:
                    await conn.execute("select 1")
                    checks[name] = "ok"
                    trouble = await key_check.trouble_async(conn, kek, table)
                checks[keys_check] = "ok" if trouble is None else trouble.summary()
            except Exception as exc:  # report, never raise from a probe
                checks[keys_check if name in checks else name] = type(exc).__name__
            checks.setdefault(keys_check, "not checked")
        try:
            await request.app.state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = type(exc).__name__
        failing = [name for name, result in checks.items() if result != "ok" and name != "redis"]
        body: dict[str, Any] = {"status": "unavailable" if failing else "ready", "checks": checks}
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200)

    @app.get("/metrics", tags=["运维"], include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus metrics."""
        try:
            sync_status()
        except Exception:  # metrics keep their last values when a database is down
            log.warning("metrics: sync status unavailable")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.settings = settings
    registry.register(CacheMetrics(app.state))
    app.state.endpoints = endpoints
    crypto_ring.configure(settings.crypto.kek.get_secret_value())  # unwraps the keys of encrypted columns
    # Areas append ``async def hook(app: FastAPI) -> None`` callables, run once the pools are open.
    hooks: list[Callable[[FastAPI], Awaitable[None]]] = [seal_hub_leftovers]
    app.state.startup_hooks = hooks
    app.state.shutdown_hooks = list[Callable[[FastAPI], Awaitable[None]]]()  # run in reverse at shutdown
    # Innermost of the shared middleware (added first): it sees the request id and its errors are handled.
    app.add_middleware(RequestLimitsMiddleware, settings=settings.web)
    app.state.upload_prefixes = list[str]()  # areas that take files append their path prefixes
    identity.mount(app, settings, endpoints)
    api.mount(app, settings, endpoints)
    mobile_api.mount(app, authenticate)  # /app/v1, with the gateway's caller resolution
    certificate_verify.mount(app, settings)
    channels.mount(app, authenticate=authenticate, open_read=api_deps.read_as)  # /kiosk/v1, /hotline/v1
    # 数据采集: the public online collection and the workbench's import of offline packages.
    app.include_router(portal_collect.router(api_deps.reader("read")))
    app.state.upload_prefixes.append(portal_collect.IMPORT_PATH)
    app.state.upload_prefixes.append(portal_collect.FORM_PATH)  # the lists' spreadsheet
    portal_collect.serve_errors(app)
    # The unit portal's pages: the API's read dependency and the login pages' CSRF protector.
    portal_web.mount(app, read_dependency=api_deps.reader("read"), csrf_of=lambda a: a.state.identity.csrf)
    # 待遇资格认证, 转移接续, 权益记录核查: the person's pages and the workbench's.
    app.include_router(person_services.router(api_deps.reader("read")))
    app.include_router(workbench_person.router(api_deps.reader("read")))
    app.state.upload_prefixes.append(person_services.UPLOAD_PREFIX)
    # 系统管理 (三员): after the portal, whose CSRF protector it uses; the audit anchors' key for verification.
    portal_admin.mount(
        app,
        authenticate=authenticate,
        anchor_key_of=lambda a: getattr(a.state, "audit_anchor_key", None) or api.anchor_key(settings),
    )
    _api_routes_first(app)
    # In front of everything above: the hot person reads and GraphQL without FastAPI's per-request work.
    fast.mount(
        app,
        enabled=settings.fast_reads,
        batch=settings.batch_reads,
        web=settings.web,
        graphql=app.state.graphql_schema,
    )
    return app


def _keyed_databases(pools: Pools) -> tuple[tuple[str, str, AsyncConnectionPool[Any], str], ...]:
    """(readiness check, label, pool, key table) of each database whose envelopes this process opens."""
    return (
        ("hub_db", key_check.HUB_DB, pools.hub, crypto_keys.HUB_TABLE),
        ("query_store", key_check.QUERY_STORE, pools.query, crypto_keys.QUERY_TABLE),
    )


async def _require_keys(pools: Pools, kek: str) -> None:
    """Refuse to start (``KeysUnusable``, logged) unless ``kek`` unwraps the current keys of both databases."""
    for _, label, pool, table in _keyed_databases(pools):
        async with pool.connection() as conn:
            try:
                await key_check.require_async(label, conn, kek, table)
            except key_check.KeysUnusable as exc:
                log.error("%s", exc)
                raise


# Collector thresholds of a web process (CPython's default is 700, 10, 10): fewer, slightly longer young
# collections and rare full ones. Over 4,000 in-process GraphQL reads the collector's CPU went from 1.2 s
# (with a 199 ms full collection) to 0.6 s (longest pause 25 ms) together with the freeze below.
GC_THRESHOLDS = (10_000, 20, 100)


def _settle_garbage_collector() -> None:
    """Move everything built at startup (modules, schemas, routes, pools) out of the collector's sight.

    A full collection scans every tracked object; with the startup heap in it that took ~200 ms of CPU
    on the GraphQL read path (every request in flight waits), frozen it takes a few tens of ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _api_routes_first(app: FastAPI) -> None:
    """Match /api and /graphql before the pages: every request walks the routes in order, and the busiest
    paths need not be tried against a hundred page routes first. No path of one group matches the other."""

    def api(route: BaseRoute) -> bool:
        router = getattr(route, "original_router", None)  # an included router
        if router is None:
            return False
        return str(router.prefix).startswith("/api/") or any(
            getattr(r, "path", "") == "/graphql" for r in router.routes
        )

    app.router.routes.sort(key=lambda route: not api(route))

"""The ``hub`` command line: demo, core, database and sync operations.

Anything that takes more than a second shows a rich progress bar.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub import settings as settings_mod
from hub.runtime import Endpoints, resolve

app = typer.Typer(help="机关事业单位养老保险公共服务平台 (pension hub) command line", no_args_is_help=True)
core_app = typer.Typer(help="The reference core system", no_args_is_help=True)
sync_app = typer.Typer(help="Change-capture sync into the query store", no_args_is_help=True)
db_app = typer.Typer(help="The hub's own databases", no_args_is_help=True)
app.add_typer(core_app, name="core")
app.add_typer(sync_app, name="sync")
app.add_typer(db_app, name="db")
for _module in (
    "gateway.cli_auth",
    "gateway.cli_audit",
    "gateway.cli_sms",
    "gateway.cli_declarations",
    "gateway.cli_app",
    "gateway.cli_keys",
    "gateway.cli_push",
    "gateway.cli_admin",
    "gateway.cli_unit",
    "gateway.cli_collect",
):
    # Each area registers its own commands (hub audit …, hub sms …) in its own module.
    _mod = importlib.import_module(_module)
    _mod.register(app)

console = Console()

DEMO_PERSONS = 2000


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar; yields a ``progress(stage, done, total)`` callback with one task per stage."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, done, 1))

        yield update


def _endpoints() -> tuple[settings_mod.Settings, Endpoints]:
    settings = settings_mod.load()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return settings, resolve(settings)


def require_keys(settings: settings_mod.Settings, endpoints: Endpoints, *stores: str) -> None:
    """Exit non-zero unless this process's KEK unwraps the current keys of ``stores`` (``hub``, ``query``).

    A worker that opens envelopes checks this before it starts: with the wrong HUB_CRYPTO__KEK it would
    otherwise fail on the first sealed value it reads."""
    from hub.crypto import check, keys
    from hub.crypto.rotation import HUB, QUERY

    where = {
        HUB: (check.HUB_DB, endpoints.hub_db_url, keys.HUB_TABLE),
        QUERY: (check.QUERY_STORE, endpoints.query_db_url, keys.QUERY_TABLE),
    }
    try:
        check.require([where[store] for store in stores], settings.crypto.kek.get_secret_value())
    except check.KeysUnusable as exc:
        logging.getLogger("hub.crypto.check").error("%s", exc)
        typer.echo(f"无法启动：主密钥 HUB_CRYPTO__KEK 不能解封 {exc.database} 的密钥", err=True)
        typer.echo(str(exc), err=True)
        endpoints.stop()
        raise typer.Exit(3) from None


# core ------------------------------------------------------------------------------------------
@core_app.command("init")
def core_init(reset: Annotated[bool, typer.Option(help="drop and recreate the core schema")] = False) -> None:
    """Create the core database schema."""
    from core import db as core_db

    _, ep = _endpoints()
    core_db.init(ep.core_db_url, reset=reset)
    console.print("核心库已就绪")


@core_app.command("seed")
def core_seed(
    persons: Annotated[int, typer.Option(help="insured persons to generate")] = DEMO_PERSONS,
    years: Annotated[int, typer.Option(help="years of monthly contribution history")] = 10,
    units: Annotated[int | None, typer.Option(help="units (default persons/40)")] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same province)")] = 20261127,
    reset: Annotated[bool, typer.Option(help="recreate the core schema first")] = True,
) -> None:
    """Generate a deterministic demo province in the core database."""
    from core import db as core_db
    from core import seed as core_seed_mod

    _, ep = _endpoints()
    core_db.init(ep.core_db_url, reset=reset)
    started = time.monotonic()
    with progress_bar() as progress:
        counts = core_seed_mod.seed(
            ep.core_db_url, persons=persons, units=units, years=years, rng_seed=seed, progress=progress
        )
    table = Table("table", "rows")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    console.print(f"用时 {time.monotonic() - started:.1f} 秒")


# db --------------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the hub database and the query store to the newest schema (alembic)."""
    from hub import migrations

    _, ep = _endpoints()
    migrations.upgrade("hubdb", ep.hub_db_url)
    migrations.upgrade("query", ep.query_db_url)
    console.print("数据库结构已是最新")


# sync ------------------------------------------------------------------------------------------
@sync_app.command("backfill")
def sync_backfill() -> None:
    """Rebuild every read model from the core (streaming), then continue incrementally from there."""
    from hub import migrations
    from sync.backfill import backfill

    _, ep = _endpoints()
    migrations.upgrade("query", ep.query_db_url)
    started = time.monotonic()
    with progress_bar() as progress:
        counts = backfill(ep.core_db_url, ep.query_db_url, progress)
    total = sum(counts.values())
    elapsed = time.monotonic() - started
    console.print(f"已重建 {len(counts)} 个读模型，共 {total:,} 行，用时 {elapsed:.1f} 秒")


@sync_app.command("init")
def sync_init(
    from_start: Annotated[bool, typer.Option(help="start at the beginning of the change log")] = False,
) -> None:
    """Set the feed position without copying data (the store must already match the core)."""
    from hub import migrations, pg
    from sync import apply, feed
    from sync.worker import FEED

    _, ep = _endpoints()
    migrations.upgrade("query", ep.query_db_url)
    with pg.connect(ep.core_db_url, autocommit=True) as core, pg.connect(ep.query_db_url) as store:
        snapshot = feed.EMPTY_SNAPSHOT if from_start else feed.current_snapshot(core)
        apply.init_checkpoint(store, FEED, snapshot)
        store.commit()
    console.print(f"同步位置已设为 {snapshot}")


@sync_app.command("run")
def sync_run() -> None:
    """Run the sync worker until interrupted (SIGINT or SIGTERM)."""
    from sync.worker import SyncWorker

    settings, ep = _endpoints()
    require_keys(settings, ep, "query")  # the worker seals the store's columns
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = SyncWorker.from_settings(ep.core_db_url, ep.query_db_url, settings.sync)
    worker.run(stop)


@sync_app.command("status")
def sync_status() -> None:
    """Print the sync position, pending changes, lag and any fault as JSON."""
    from hub import pg
    from sync.worker import read_status

    settings, ep = _endpoints()
    with pg.connect(ep.core_db_url, autocommit=True) as core, pg.connect(ep.query_db_url) as store:
        st = read_status(core, store, settings.sync.lag_alarm_seconds)
    cp = st.checkpoint
    print(
        json.dumps(
            {
                "snapshot": cp.prev_snapshot if cp else None,
                "applied_changes": cp.applied_changes if cp else 0,
                "pending": st.pending,
                "lag_seconds": st.lag_seconds,
                "fault": st.fault,
                "alarm": st.alarm,
            },
            ensure_ascii=False,
        )
    )


@sync_app.command("verify")
def sync_verify(
    repair: Annotated[bool, typer.Option(help="rewrite differing keys from the core")] = False,
    show: Annotated[int, typer.Option(help="differing keys to list per model")] = 10,
) -> None:
    """Compare every read model with the core by counts and checksums; exit 0 only when all are equal."""
    from sync.verify import verify

    _, ep = _endpoints()
    with progress_bar() as progress:
        reports = verify(ep.core_db_url, ep.query_db_url, repair=repair, progress=progress)
    table = Table("read model", "core rows", "store rows", "missing", "extra", "differing", "repaired", "equal")
    for r in reports:
        table.add_row(
            r.name,
            f"{r.core_rows:,}",
            f"{r.store_rows:,}",
            str(len(r.missing)),
            str(len(r.extra)),
            str(len(r.differing)),
            str(r.repaired),
            "是" if r.equal else "否",
        )
    console.print(table)
    for r in reports:
        for label, keys in (("missing", r.missing), ("extra", r.extra), ("differing", r.differing)):
            if keys:
                console.print(f"{r.name} {label}: {', '.join(keys[:show])}{' …' if len(keys) > show else ''}")
    unequal = [r for r in reports if not r.equal and not r.repaired]
    if unequal:
        raise typer.Exit(1)
    if any(r.repaired for r in reports):
        # repaired now; verify again to prove it
        again = verify(ep.core_db_url, ep.query_db_url)
        if not all(r.equal for r in again):
            raise typer.Exit(1)


# demo and web ----------------------------------------------------------------------------------
@app.command("serve")
def serve() -> None:
    """Serve the web process (gateway) on the configured host and port."""
    from gateway import server
    from gateway.app import create_app

    settings, ep = _endpoints()
    try:
        server.run(
            create_app(settings, ep),
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            limit_concurrency=settings.web.limit_concurrency,
            timeout_keep_alive=settings.web.timeout_keep_alive_seconds,
        )
    finally:
        ep.stop()


@app.command("demo")
def demo(
    persons: Annotated[int, typer.Option(help="size of the demo province")] = DEMO_PERSONS,
) -> None:
    """Set up everything (embedded PostgreSQL and Redis unless configured), seed, sync and serve."""
    from core import db as core_db
    from core import seed as core_seed_mod
    from gateway import server
    from gateway.app import create_app
    from hub import migrations, pg
    from sync import apply
    from sync.backfill import backfill
    from sync.worker import FEED

    settings, ep = _endpoints()
    try:
        console.print("[bold]1/4[/] 准备数据库 …")
        core_db.init(ep.core_db_url)
        migrations.upgrade("hubdb", ep.hub_db_url)
        migrations.upgrade("query", ep.query_db_url)
        with pg.connect(ep.core_db_url) as core:
            seeded = core.execute("select exists (select 1 from core.ac01)").fetchone()
        if not (seeded and seeded[0]):
            console.print(f"[bold]2/4[/] 生成演示数据（{persons:,} 名参保人）…")
            with progress_bar() as progress:
                core_seed_mod.seed(ep.core_db_url, persons=persons, progress=progress)
        else:
            console.print("[bold]2/4[/] 演示数据已存在，跳过生成")
        with pg.connect(ep.query_db_url) as store:
            has_checkpoint = apply.load_checkpoint(store, FEED) is not None
        if not has_checkpoint:
            console.print("[bold]3/4[/] 初始化查询库 …")
            with progress_bar() as progress:
                backfill(ep.core_db_url, ep.query_db_url, progress)
        else:
            console.print("[bold]3/4[/] 查询库已初始化，由同步进程增量追赶")
        url = f"http://{settings.http_host}:{settings.http_port}"
        console.print(f"[bold]4/4[/] 启动服务：{url}")
        console.print(f"  健康检查  {url}/healthz")
        console.print(f"  接口文档  {url}/docs")
        from gateway.cli_auth import print_demo_accounts
        from hub.identity.demo import create_demo_accounts

        with pg.connect(ep.hub_db_url) as hub_conn, pg.connect(ep.core_db_url) as core_conn:
            accounts = create_demo_accounts(hub_conn, core_conn, settings.auth)
        console.print("  演示账号（短信验证码写入 var/sms/outbox.jsonl）：")
        print_demo_accounts(list(accounts))
        console.print("按 Ctrl-C 停止全部服务。")
        # The demo delivers SMS in-process (file transport: var/sms/outbox.jsonl); production runs `hub sms run`.
        from sms.worker import Worker, make_transport

        sms_stop = threading.Event()
        sms_worker = Worker(ep.hub_db_url, make_transport(settings.sms, settings.var_dir), settings.sms)
        sms_thread = threading.Thread(target=sms_worker.run, args=(sms_stop,), name="sms", daemon=True)
        sms_thread.start()
        # So are the core's command API, the declaration outbox, unified push and the auditor's chain
        # verification (separate processes in production: hub declarations core-api / hub declarations run /
        # hub push run / hub audit run).
        workers = _demo_workers(settings, ep, sms_stop)
        try:
            server.run(
                create_app(settings, ep),
                host=settings.http_host,
                port=settings.http_port,
                log_level=settings.log_level.lower(),
                limit_concurrency=settings.web.limit_concurrency,
                timeout_keep_alive=settings.web.timeout_keep_alive_seconds,
            )
        finally:
            sms_stop.set()
            sms_thread.join(timeout=10)
            for thread in workers:
                thread.join(timeout=10)
    finally:
        ep.stop()


def _demo_workers(settings: settings_mod.Settings, ep: Endpoints, stop: threading.Event) -> list[threading.Thread]:
    """The core API (on the port of HUB_DECLARATIONS__CORE_API_URL), the outbox worker, the push worker and the
    audit verification worker (`hub audit run`)."""
    from urllib.parse import urlsplit

    import uvicorn

    from core import api as core_api
    from gateway.api import anchor_key
    from hub.audit import verify_job
    from hub.collect.service import OpeningDelivery
    from hub.declarations.outbox import OutboxWorker
    from hub.identity.config import IdentityConfig
    from hub.persons.requests_outbox import PersonOutbox
    from hub.push import worker as push_worker

    target = urlsplit(settings.declarations.core_api_url)
    server = uvicorn.Server(
        uvicorn.Config(
            core_api.create_app(ep.core_db_url, token=settings.declarations.core_api_token or None),
            host=target.hostname or "127.0.0.1",
            port=target.port or 8100,
            log_level="warning",
        )
    )
    delivery = OpeningDelivery(ep.core_db_url, IdentityConfig.from_settings(settings.auth))  # activation codes
    outbox = OutboxWorker(ep.hub_db_url, ep.query_db_url, settings.declarations, after_applied=delivery)
    person_outbox = PersonOutbox(ep.hub_db_url, settings.declarations)

    def serve_core() -> None:
        server.run()

    def stop_core() -> None:
        stop.wait()
        server.should_exit = True

    threads = [
        threading.Thread(target=serve_core, name="core-api", daemon=True),
        threading.Thread(target=stop_core, name="core-api-stop", daemon=True),
        threading.Thread(target=outbox.run, args=(stop,), name="outbox", daemon=True),
        threading.Thread(target=person_outbox.run, args=(stop,), name="person-requests", daemon=True),
        threading.Thread(
            target=push_worker.run, args=(ep.hub_db_url, ep.query_db_url, settings.push, stop), name="push", daemon=True
        ),
        threading.Thread(
            target=verify_job.run,
            args=(ep.hub_db_url, anchor_key(settings), settings.audit, stop),
            name="audit",
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    return threads


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

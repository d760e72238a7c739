"""The `hub declarations` commands: the outbox worker, the core's command API, outbox status."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated

import typer

declarations_app = typer.Typer(help="单位申报：指令发送进程、核心系统指令接口", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    app.add_typer(declarations_app, name="declarations")


@declarations_app.command("run")
def run() -> None:
    """Send approved declarations to the core's command API until SIGINT or SIGTERM (retries, backoff)."""
    from gateway.cli import _endpoints, require_keys
    from hub.collect.service import OpeningDelivery
    from hub.declarations import config
    from hub.declarations.outbox import OutboxWorker
    from hub.identity.config import IdentityConfig
    from hub.persons.requests_outbox import PersonOutbox

    settings, ep = _endpoints()
    require_keys(settings, ep, "hub", "query")  # opens sealed contact phones of the store
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # A unit a collection opened gets its activation code as soon as the apply is recorded.
    delivery = OpeningDelivery(ep.core_db_url, IdentityConfig.from_settings(settings.auth))
    worker = OutboxWorker(ep.hub_db_url, ep.query_db_url, config.load(), after_applied=delivery)
    persons = PersonOutbox(ep.hub_db_url, config.load())  # person requests (挂失, 联系方式变更) alongside
    beside = threading.Thread(target=persons.run, args=(stop,), name="person-requests", daemon=True)
    beside.start()
    try:
        worker.run(stop)
    finally:
        beside.join(timeout=10)
        ep.stop()


@declarations_app.command("core-api")
def core_api(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8100,
) -> None:
    """Serve the reference core's command API (ESB-style, idempotent by command id)."""
    from core import api
    from gateway.cli import _endpoints
    from hub.declarations import config

    _, ep = _endpoints()
    try:
        api.serve(ep.core_db_url, host, port, config.load().core_api_token or None)
    finally:
        ep.stop()


@declarations_app.command("status")
def status() -> None:
    """Print the outbox's commands per state, the oldest open one and the most retried one (JSON)."""
    from gateway.cli import _endpoints
    from hub import pg
    from hub.declarations.outbox import status as outbox_status

    _, ep = _endpoints()
    try:
        with pg.connect(ep.hub_db_url) as conn:
            print(json.dumps(outbox_status(conn), ensure_ascii=False))
    finally:
        ep.stop()

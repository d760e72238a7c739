"""The `hub push run` worker: watch the sync events for card and payment changes, release held SMS."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    push_app = typer.Typer(help="Unified push (统一推送)", no_args_is_help=True)
    app.add_typer(push_app, name="push")

    @push_app.command("run")
    def run() -> None:
        """Run until interrupted (SIGINT or SIGTERM); one transaction per round, safe to kill at any point."""
        import signal
        import threading

        from gateway.cli import _endpoints, require_keys
        from hub.push import worker

        settings, endpoints = _endpoints()
        require_keys(settings, endpoints, "hub", "query")  # opens sealed phones of the store
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            worker.run(endpoints.hub_db_url, endpoints.query_db_url, settings.push, stop)
        finally:
            endpoints.stop()

    @push_app.command("remind-certification")
    def remind_certification(
        region: Annotated[list[str] | None, typer.Option(help="统筹区编码 (repeatable); all when omitted")] = None,
    ) -> None:
        """Remind retirees whose 待遇资格认证 ends within the lead time: one notice per person and cycle.

        `hub push run` does this by itself once a day from HUB_PUSH__CERTIFICATION_HOUR; this runs it now."""
        import json
        from dataclasses import asdict
        from datetime import UTC, datetime

        from gateway.cli import _endpoints
        from hub import pg
        from hub.persons import eligibility

        settings, endpoints = _endpoints()
        try:
            with pg.connect(endpoints.hub_db_url) as hub, pg.connect(endpoints.query_db_url, autocommit=True) as store:
                run = eligibility.send_reminders(hub, store, settings.push, datetime.now(UTC), region or None)
                hub.commit()
            typer.echo(json.dumps(asdict(run), ensure_ascii=False))
        finally:
            endpoints.stop()

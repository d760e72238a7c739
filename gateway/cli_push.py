"""The `hub push run` worker: watch the sync events for card and payment changes, release held SMS."""

from __future__ import annotations

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

        from gateway.cli import _endpoints
        from hub.push import worker

        settings, endpoints = _endpoints()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            worker.run(endpoints.hub_db_url, endpoints.query_db_url, settings.push, stop)
        finally:
            endpoints.stop()

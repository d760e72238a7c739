"""The `hub audit` commands: verify the hash chains and anchors of the audit log (at once, or as the worker of
the auditor's background jobs), archive old records."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    audit_app = typer.Typer(help="The tamper-evident audit log", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    @audit_app.command("verify")
    def verify() -> None:
        """Walk every chain and its signed anchors; exit 1 if any row was edited, deleted or cut off."""
        from rich.console import Console

        from gateway.api import anchor_key
        from hub import pg
        from hub import settings as settings_mod
        from hub.audit.verify import verify as verify_log
        from hub.runtime import resolve

        console = Console()
        settings = settings_mod.load()
        endpoints = resolve(settings)
        with pg.connect(endpoints.hub_db_url) as conn:
            rows, findings = verify_log(conn, anchor_key(settings))
        for f in findings:
            console.print(f"[red]{f.kind}[/red] chain {f.chain_id} seq {f.seq}: {f.detail}")
        if findings:
            console.print(f"审计日志校验失败：{len(findings)} 处问题（共检查 {rows:,} 条记录）")
            raise typer.Exit(1)
        console.print(f"审计日志完整：共检查 {rows:,} 条记录")

    @audit_app.command("run")
    def run() -> None:
        """The worker of the auditor's chain verification jobs (started on /portal/admin/audit): claims a job
        with a lease and checks it in batches; runs until SIGINT or SIGTERM, safe to kill at any point (the
        job resumes once the lease runs out)."""
        import signal
        import threading

        from gateway.api import anchor_key
        from gateway.cli import _endpoints
        from hub.audit import verify_job

        settings, endpoints = _endpoints()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            verify_job.run(endpoints.hub_db_url, anchor_key(settings), settings.audit, stop)
        finally:
            endpoints.stop()

    @audit_app.command("archive")
    def archive(
        before: Annotated[str, typer.Option(help="archive records older than this day (YYYY-MM-DD, ≥ 6 months ago)")],
    ) -> None:
        """Move records past the retention period to the append-only archive table (never deleted)."""
        from datetime import UTC, date, datetime, time

        from rich.console import Console
        from rich.progress import Progress

        from hub import pg
        from hub import settings as settings_mod
        from hub.audit.archive import archive as archive_records
        from hub.errors import ValidationFailed
        from hub.runtime import resolve

        console = Console()
        try:
            day = date.fromisoformat(before)
        except ValueError:
            console.print("[red]日期格式应为 YYYY-MM-DD[/red]")
            raise typer.Exit(2) from None
        endpoints = resolve(settings_mod.load())
        with pg.connect(endpoints.hub_db_url, autocommit=True) as conn, Progress() as progress:
            task = progress.add_task("归档审计记录", total=None)
            try:
                moved = archive_records(
                    conn,
                    datetime.combine(day, time(), tzinfo=UTC),
                    now=datetime.now(UTC),
                    progress=lambda n: progress.advance(task, n),
                )
            except ValidationFailed as exc:
                console.print(f"[red]{exc.detail}[/red]")
                raise typer.Exit(2) from None
        console.print(f"已归档 {moved:,} 条审计记录（{day} 以前）")

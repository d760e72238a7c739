"""The `hub audit` commands: verify the hash chains and anchors of the audit log."""

from __future__ import annotations

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

"""The `hub app …` commands: the 掌上12333 app's version check per platform."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from hub.access.subject import Channel, StaffRole, Subject, SubjectKind
from hub.content.versions import Platform


def operator() -> Subject:
    """The person at the server's console, acting as system administrator (recorded as ``cli:<user>``)."""
    return Subject(
        SubjectKind.STAFF,
        f"cli:{getpass.getuser()}"[:64],
        "hub-cli",
        Channel.PORTAL,
        roles=frozenset({StaffRole.SYSTEM_ADMIN}),
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    app_app = typer.Typer(help="掌上12333：版本管理", no_args_is_help=True)
    version_app = typer.Typer(help="各平台的版本检查信息", no_args_is_help=True)
    app.add_typer(app_app, name="app")
    app_app.add_typer(version_app, name="version")

    @version_app.command("set")
    def version_set(
        platform: Annotated[Platform, typer.Option(help="平台")],
        latest: Annotated[str, typer.Option(help="最新版本号，如 3.2.1")],
        minimum: Annotated[str, typer.Option(help="最低支持版本号（低于此版本强制更新）")],
        url: Annotated[str, typer.Option(help="下载地址（https）")],
        notes: Annotated[str, typer.Option(help="更新说明")] = "",
    ) -> None:
        """Publish a platform's latest and minimum supported version (audited)."""
        from datetime import UTC, datetime

        from rich.console import Console

        from hub import pg
        from hub import settings as settings_mod
        from hub.content import versions
        from hub.errors import HubError
        from hub.runtime import resolve

        console = Console()
        endpoints = resolve(settings_mod.load())
        with pg.connect(endpoints.hub_db_url) as conn:
            try:
                row = versions.set_version(
                    conn,
                    operator(),
                    platform=platform,
                    latest=latest,
                    minimum=minimum,
                    download_url=url,
                    notes=notes,
                    now=datetime.now(UTC),
                )
            except HubError as exc:
                console.print(f"[red]{exc.detail}[/red]")
                raise typer.Exit(2) from None
            conn.commit()
        console.print(f"{row.platform.value}：最新 {row.latest}，最低支持 {row.minimum}")

    @version_app.command("list")
    def version_list() -> None:
        """Show every platform's published version row."""
        from rich.console import Console
        from rich.table import Table

        from hub import pg
        from hub import settings as settings_mod
        from hub.content import versions
        from hub.runtime import resolve

        endpoints = resolve(settings_mod.load())
        with pg.connect(endpoints.hub_db_url) as conn:
            rows = versions.list_versions(conn)
        table = Table("平台", "最新", "最低支持", "下载地址")
        for r in rows:
            table.add_row(r.platform.value, r.latest, r.minimum, r.download_url)
        Console().print(table)

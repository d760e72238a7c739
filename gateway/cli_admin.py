"""`hub admin bootstrap`: the first system, security and audit administrators (三员), once each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from hub.access.subject import StaffRole


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    admin_app = typer.Typer(help="Installation of the administrators (三员分离)", no_args_is_help=True)
    app.add_typer(admin_app, name="admin")

    @admin_app.command("bootstrap")
    def bootstrap(
        role: Annotated[StaffRole, typer.Option(help="system_admin, security_admin or auditor")],
        login: Annotated[str, typer.Option(help="工号")],
        name: Annotated[str, typer.Option(help="姓名")],
        phone: Annotated[str, typer.Option(help="接收短信验证码的手机号码")],
        region: Annotated[list[str], typer.Option(help="统筹区编码，可多次给出")],
        password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    ) -> None:
        """Create the first holder of an administrator role; refused once any account holds it."""
        from rich.console import Console

        from gateway.cli import _endpoints
        from hub import pg
        from hub.identity import admin
        from hub.identity.config import IdentityConfig
        from hub.identity.errors import IdentityError

        console = Console()
        settings, endpoints = _endpoints()
        cfg = IdentityConfig.from_settings(settings.auth)
        try:
            with pg.connect(endpoints.hub_db_url) as conn:
                try:
                    account_id = admin.install_administrator(
                        conn, cfg, role=role, login=login, display_name=name, phone=phone, password=password,
                        region_codes=region, now=datetime.now(UTC),
                    )  # fmt: skip
                except IdentityError as exc:
                    conn.commit()  # the refusal's audit record
                    console.print(f"[red]{exc.detail}[/red]")
                    raise typer.Exit(1) from None
                conn.commit()
        finally:
            endpoints.stop()
        console.print(f"已建立{role.value}账号 {login}（{account_id}）")

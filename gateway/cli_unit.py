"""The `hub unit` commands: counter-issued activation codes and declaration deadline reminders."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

unit_app = typer.Typer(help="单位网上服务：激活码、申报截止提醒", no_args_is_help=True)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    app.add_typer(unit_app, name="unit")


@unit_app.command("issue-activation")
def issue_activation(
    unit_code: Annotated[str, typer.Argument(help="统一社会信用代码或单位编号")],
    staff: Annotated[str, typer.Option("--by", help="经办人员账号（记入审计）")],
) -> None:
    """Issue a counter activation code for a unit without operator accounts; print it once."""
    from gateway.cli import _endpoints
    from hub import pg
    from hub.identity import core_lookup
    from hub.identity.config import IdentityConfig
    from hub.identity.errors import IdentityError
    from hub.identity.unit_activation import issue_counter_code

    settings, ep = _endpoints()
    cfg = IdentityConfig.from_settings(settings.auth)
    try:
        with pg.connect(ep.hub_db_url) as conn, core_lookup.read_only(ep.core_db_url) as core:
            try:
                issued = issue_counter_code(
                    conn, core, cfg, unit_code=unit_code, issued_by=staff, now=datetime.now(UTC)
                )
            except IdentityError as exc:
                typer.echo(exc.detail, err=True)
                raise typer.Exit(1) from None
            conn.commit()
    finally:
        ep.stop()
    expires = issued.expires_at.astimezone(SHANGHAI)
    # The code goes to the terminal only (to be handed over on paper), never to a log.
    typer.echo(f"单位：{issued.unit_name}（单位编号 {issued.unit_id}）")
    typer.echo(f"激活码：{issued.code}")
    typer.echo(f"有效期至：{expires:%Y-%m-%d %H:%M}，仅可使用一次。请在 /portal/activate 选择“柜台激活码”。")


@unit_app.command("remind")
def remind(
    days: Annotated[int, typer.Option(min=0, max=60, help="窗口截止前几天内提醒")] = 5,
    on: Annotated[str | None, typer.Option(help="按该日期（YYYY-MM-DD，默认今天）判断，用于补发")] = None,
) -> None:
    """Queue an SMS to each unit contact whose annual wage declaration is not yet submitted (once per window)."""
    from gateway.cli import _endpoints
    from hub import pg
    from hub.units.reminders import remind as run_reminders

    now = datetime.now(UTC)
    try:
        today = date.fromisoformat(on) if on else now.astimezone(SHANGHAI).date()
    except ValueError:
        typer.echo("日期格式应为 YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    _, ep = _endpoints()
    try:
        with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url) as query:
            result = run_reminders(hub, query, days=days, today=today, now=now)
            hub.commit()
    finally:
        ep.stop()
    typer.echo(
        json.dumps(
            {
                "queued": result.queued,
                "already_reminded": result.already_reminded,
                "submitted": result.submitted,
                "no_mobile": result.no_mobile,
                "windows": [w.key for w in result.windows],
                "regions_without_window": result.regions_without_window,
            },
            ensure_ascii=False,
        )
    )

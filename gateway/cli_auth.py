"""The `hub auth …` commands: signing-key rotation, bootstrap staff accounts, OAuth clients, demo accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.access.subject import Channel, StaffRole
from hub.settings import Settings

auth_app = typer.Typer(help="统一认证：密钥轮换、管理员与客户端", no_args_is_help=True)
console = Console()


def _settings_and_urls() -> tuple[Settings, str, str]:
    from hub import settings as settings_mod
    from hub.runtime import resolve

    settings = settings_mod.load()
    settings.auth.check_environment(settings.environment)
    ep = resolve(settings)
    return settings, ep.hub_db_url, ep.core_db_url


@auth_app.command("rotate-keys")
def rotate_keys() -> None:
    """Add a new signing key; the newest signs, older ones still verify until they leave the JWKS."""
    from hub import pg
    from hub.identity import keys

    settings, hub_url, _ = _settings_and_urls()
    s = settings.auth
    with pg.connect(hub_url) as conn:
        kid = keys.rotate(conn, s.key_encryption_key.get_secret_value(), datetime.now(UTC), s.signing_keys_kept)
        conn.commit()
    console.print(f"已生成新的签名密钥 {kid}；各节点在1分钟内启用")


@auth_app.command("create-staff")
def create_staff(
    login: Annotated[str, typer.Option(help="工号")],
    name: Annotated[str, typer.Option(help="姓名")],
    phone: Annotated[str, typer.Option(help="接收短信验证码的手机号码")],
    role: Annotated[StaffRole, typer.Option(help="初始角色（安装时建立三员）")],
    region: Annotated[list[str], typer.Option(help="统筹区编码，可多次给出")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """An operator or reviewer account with its role (the three administrators come from
    `hub admin bootstrap`; after installation the system administrator creates accounts in the system)."""
    from hub import pg
    from hub.identity import admin
    from hub.identity.config import IdentityConfig

    if role in admin.ADMIN_ROLES:
        console.print("系统管理员、安全管理员、审计管理员只能用 hub admin bootstrap 建立（每种一次）")
        raise typer.Exit(2)
    settings, hub_url, _ = _settings_and_urls()
    cfg = IdentityConfig.from_settings(settings.auth)
    with pg.connect(hub_url) as conn:
        account_id = admin.bootstrap_staff(
            conn,
            cfg,
            login=login,
            display_name=name,
            phone=phone,
            password=password,
            role=role,
            region_codes=region,
            now=datetime.now(UTC),
        )
        conn.commit()
    console.print(f"已建立工作人员账号 {login}（{account_id}），角色 {role.value}")


@auth_app.command("add-client")
def add_client(
    client_id: Annotated[str, typer.Option(help="客户端编号")],
    name: Annotated[str, typer.Option(help="名称")],
    channel: Annotated[Channel, typer.Option(help="渠道")],
    scope: Annotated[list[str], typer.Option(help="可用范围，可多次给出")],
    grant: Annotated[list[str], typer.Option(help="authorization_code / refresh_token / client_credentials")],
    redirect_uri: Annotated[list[str] | None, typer.Option(help="回调地址（授权码）")] = None,
    public: Annotated[bool, typer.Option(help="公开客户端（App，无密钥，强制 PKCE）")] = False,
) -> None:
    """Register an OAuth client; a confidential client's secret is shown once."""
    from hub import pg
    from hub.identity import clients

    _, hub_url, _ = _settings_and_urls()
    with pg.connect(hub_url) as conn:
        secret = clients.register(
            conn,
            client_id=client_id,
            name=name,
            channel=channel,
            grant_types=grant,
            scopes=scope,
            redirect_uris=redirect_uri or [],
            public=public,
            now=datetime.now(UTC),
        )
        conn.commit()
    console.print(f"已登记客户端 {client_id}" + (f"，密钥（仅显示一次）：{secret}" if secret else "（公开客户端）"))


@auth_app.command("enroll-totp")
def enroll_totp(login: Annotated[str, typer.Option(help="工作人员工号")]) -> None:
    """Give a staff account a TOTP secret; prints the otpauth:// URI for the authenticator app."""
    from hub import pg
    from hub.access.subject import SubjectKind
    from hub.identity import accounts, admin
    from hub.identity.config import IdentityConfig

    settings, hub_url, _ = _settings_and_urls()
    cfg = IdentityConfig.from_settings(settings.auth)
    with pg.connect(hub_url) as conn:
        account = accounts.find(conn, SubjectKind.STAFF, login)
        if account is None:
            raise typer.BadParameter("没有这个工号")
        uri = admin.enroll_totp(conn, cfg, account.id)
        conn.commit()
    console.print(uri)


@auth_app.command("prune")
def prune() -> None:
    """Delete expired verification codes, authorization codes, refresh tokens and revoked-token ids."""
    from hub import pg
    from hub.identity.prune import prune as prune_rows

    _, hub_url, _ = _settings_and_urls()
    with pg.connect(hub_url) as conn:
        counts = prune_rows(conn, datetime.now(UTC))
        conn.commit()
    console.print("已清理：" + "，".join(f"{table} {n} 行" for table, n in counts.items()))


def print_demo_accounts(rows: list[object]) -> None:
    """The table ``hub demo`` prints (rows are ``hub.identity.demo.DemoAccount``)."""
    from hub.identity.demo import DemoAccount

    table = Table("角色", "登录名 / 客户端", "密码 / 密钥", "入口", "说明")
    for row in rows:
        assert isinstance(row, DemoAccount)
        table.add_row(row.role, row.login, row.password, row.where, row.note)
    Console().print(table)  # the terminal's width now, not at import (COLUMNS may be set by the caller)


@auth_app.command("demo-accounts")
def demo_accounts() -> None:
    """Create (or find) the demo accounts for every role and print them."""
    from hub import pg
    from hub.identity import core_lookup
    from hub.identity.demo import create_demo_accounts

    settings, hub_url, core_url = _settings_and_urls()
    with pg.connect(hub_url) as conn, core_lookup.read_only(core_url) as core:
        rows = create_demo_accounts(conn, core, settings.auth)
    print_demo_accounts(list(rows))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    app.add_typer(auth_app, name="auth")

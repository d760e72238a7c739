"""The `hub keys` commands: status, data-key rotation with background re-encryption, KEK re-wrapping."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    keys_app = typer.Typer(help="Encryption keys of data at rest (SM4-GCM, HMAC-SM3)", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("status")
    def status() -> None:
        """Create the keys if there are none; list them and the rows still under older data keys."""
        from rich.console import Console
        from rich.table import Table

        from hub import pg
        from hub import settings as settings_mod
        from hub.crypto import keys
        from hub.crypto.rotation import REGISTRY, pending
        from hub.runtime import resolve

        settings = settings_mod.load()
        endpoints = resolve(settings)
        console = Console()
        kek = settings.crypto.kek.get_secret_value()
        with pg.connect(endpoints.hub_db_url) as conn:
            ring = keys.ensure(conn, kek, datetime.now(UTC))
            table = Table("key", "purpose", "active", "created", "retired")
            for key_id, purpose, active, created, retired in conn.execute(
                "select key_id, purpose, active, created_at, retired_at from hub.crypto_key order by key_id"
            ):
                table.add_row(
                    str(key_id), str(purpose), "是" if active else "", f"{created:%Y-%m-%d %H:%M}", str(retired or "")
                )
            console.print(table)
            for column in REGISTRY:
                console.print(f"{column.table}.{column.column}: {pending(conn, ring, column):,} 行待重新加密")

    @keys_app.command("rotate")
    def rotate(
        resume: Annotated[bool, typer.Option(help="only finish re-encrypting under the current key")] = False,
    ) -> None:
        """Add a new data key, then re-encrypt every registered column under it (resumable, with progress)."""
        from rich.progress import Progress, TaskID

        from hub import pg
        from hub import settings as settings_mod
        from hub.crypto import keys
        from hub.crypto.rotation import REGISTRY, keys_in_use, pending, reencrypt
        from hub.runtime import resolve

        settings = settings_mod.load()
        endpoints = resolve(settings)
        kek = settings.crypto.kek.get_secret_value()
        with pg.connect(endpoints.hub_db_url) as conn:
            keys.ensure(conn, kek, datetime.now(UTC))
            if not resume:
                key_id = keys.rotate_data_key(conn, kek, datetime.now(UTC))
                conn.commit()
                typer.echo(f"新数据密钥 {key_id} 已启用")
            ring = keys.load(conn, kek)
            assert ring is not None
            in_use: set[int] = set()
            with Progress() as progress:
                for column in REGISTRY:
                    task = progress.add_task(f"{column.table}.{column.column}", total=pending(conn, ring, column))

                    def advance(n: int, task: TaskID = task) -> None:
                        progress.advance(task, n)

                    reencrypt(conn, ring, column, batch=settings.crypto.rotate_batch, progress=advance)
                    in_use |= keys_in_use(conn, column)
            retired = keys.retire_unused(conn, in_use | {ring.active_id}, datetime.now(UTC))
            conn.commit()
        typer.echo(f"重新加密完成；停用的旧密钥：{', '.join(map(str, retired)) or '无'}")

    @keys_app.command("rewrap")
    def rewrap(
        new_kek_env: Annotated[str, typer.Option(help="environment variable holding the new KEK")] = "HUB_NEW_KEK",
    ) -> None:
        """Re-wrap every key under a new key-encryption key (then set HUB_CRYPTO__KEK to it)."""
        from hub import pg
        from hub import settings as settings_mod
        from hub.crypto import keys
        from hub.runtime import resolve

        new_kek = os.environ.get(new_kek_env, "")
        if len(new_kek) < 16:
            typer.echo(f"请在环境变量 {new_kek_env} 中提供至少 16 个字符的新主密钥", err=True)
            raise typer.Exit(2)
        settings = settings_mod.load()
        endpoints = resolve(settings)
        with pg.connect(endpoints.hub_db_url) as conn:
            moved = keys.rewrap(conn, settings.crypto.kek.get_secret_value(), new_kek)
            conn.commit()
        typer.echo(f"已用新主密钥重新封装 {moved} 个密钥；请将 HUB_CRYPTO__KEK 更新为新值后重启各进程")

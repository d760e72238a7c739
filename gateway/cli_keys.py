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
        from hub.crypto import columns, keys, ring
        from hub.crypto.rotation import HUB, QUERY, REGISTRY, pending
        from hub.runtime import resolve

        assert columns.TABLES  # imported for its registrations

        settings = settings_mod.load()
        endpoints = resolve(settings)
        ring.configure(settings.crypto.kek.get_secret_value())
        console = Console()
        kek = settings.crypto.kek.get_secret_value()
        for store, url, label in ((HUB, endpoints.hub_db_url, "业务库"), (QUERY, endpoints.query_db_url, "查询库")):
            table_name = keys.QUERY_TABLE if store == QUERY else keys.HUB_TABLE
            with pg.connect(url) as conn:
                key_ring = keys.ensure(conn, kek, datetime.now(UTC), table_name)
                table = Table("key", "purpose", "active", "created", "retired", title=label)
                for key_id, purpose, active, created, retired in conn.execute(
                    f"select key_id, purpose, active, created_at, retired_at from {table_name} order by key_id"
                ):
                    table.add_row(
                        str(key_id),
                        str(purpose),
                        "是" if active else "",
                        f"{created:%Y-%m-%d %H:%M}",
                        str(retired or ""),
                    )
                console.print(table)
                for column in REGISTRY:
                    if column.store == store:
                        console.print(
                            f"{column.table}.{column.column}: {pending(conn, key_ring, column):,} 行待重新加密"
                        )

    @keys_app.command("rotate")
    def rotate(
        resume: Annotated[bool, typer.Option(help="only finish re-encrypting under the current key")] = False,
    ) -> None:
        """Add a new data key to the hub DB and the query store, then re-encrypt every registered column."""
        from rich.progress import Progress, TaskID

        from hub import pg
        from hub import settings as settings_mod
        from hub.crypto import columns, keys, ring
        from hub.crypto.rotation import HUB, QUERY, REGISTRY, EncryptedColumn, pending
        from hub.runtime import resolve

        settings = settings_mod.load()
        endpoints = resolve(settings)
        ring.configure(settings.crypto.kek.get_secret_value())
        retired_by: dict[str, str] = {}
        with Progress() as progress:
            tasks: dict[EncryptedColumn, TaskID] = {}

            def advance(column: EncryptedColumn, n: int) -> None:
                if column not in tasks:
                    tasks[column] = progress.add_task(f"{column.table}.{column.column}")
                progress.advance(tasks[column], n)

            for store, url in ((HUB, endpoints.hub_db_url), (QUERY, endpoints.query_db_url)):
                with pg.connect(url) as conn:
                    key_id, _, retired = columns.rotate(
                        conn, store, new_key=not resume, batch=settings.crypto.rotate_batch, progress=advance
                    )
                    key_ring = keys.load(conn, ring.kek(), columns.TABLES[store])
                    assert key_ring is not None
                    left = sum(pending(conn, key_ring, c) for c in REGISTRY if c.store == store)
                progress.console.print(f"{store}: 当前数据密钥 {key_id}，仍待重新加密 {left} 行")
                retired_by[store] = ", ".join(map(str, retired)) or "无"
        typer.echo(f"重新加密完成；停用的旧密钥：{retired_by[HUB]}；查询库停用的旧密钥：{retired_by[QUERY]}")

    @keys_app.command("seal")
    def seal() -> None:
        """Encrypt what the old plaintext columns still hold and empty them (the data step of the migrations)."""
        from hub import pg
        from hub import settings as settings_mod
        from hub.crypto import columns, ring
        from hub.crypto.rotation import HUB, QUERY
        from hub.runtime import resolve

        settings = settings_mod.load()
        endpoints = resolve(settings)
        ring.configure(settings.crypto.kek.get_secret_value())
        for store, url in ((HUB, endpoints.hub_db_url), (QUERY, endpoints.query_db_url)):
            with pg.connect(url) as conn:
                done = columns.seal_leftovers(conn, store, batch=settings.crypto.rotate_batch)
            typer.echo(f"{store}: 已加密 {done} 个明文值")

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
        moved = 0
        # One transaction per database; a database already under the new KEK is skipped, so a rerun finishes.
        for url, table in ((endpoints.hub_db_url, keys.HUB_TABLE), (endpoints.query_db_url, keys.QUERY_TABLE)):
            with pg.connect(url) as conn:
                moved += keys.rewrap(conn, settings.crypto.kek.get_secret_value(), new_kek, table)
                conn.commit()
        typer.echo(f"已用新主密钥重新封装 {moved} 个密钥；请将 HUB_CRYPTO__KEK 更新为新值后重启各进程")

"""The `hub collect` commands: the offline version (单机版) for units, and the agency's key and import.

Unit side (no hub database needed): ``serve`` runs the collection form on 127.0.0.1 with its own SQLite
file, ``export`` writes the package for the agency's public key. Both open the unit's signing key with the
operator's passphrase (set twice at the first start, asked for afterwards; or ``HUB_COLLECT_PASSPHRASE``
for unattended use and tests). Agency side: ``keygen`` makes an SM2 key
pair (private key sealed under the KEK) and writes the public key file to hand to units, ``import``
verifies, decrypts, validates and previews a package and, unless ``--preview``, submits it for review,
``deliver`` sends the activation code of every unit the core has opened from a collection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hub.collect.local import LocalStore

collect_app = typer.Typer(help="数据采集：单机版填报与导出、经办机构密钥与导入", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    app.add_typer(collect_app, name="collect")


def _unlock(store: LocalStore) -> None:
    """Open the file's unit key: set the passphrase on a new file (or one whose key is not yet sealed),
    ask for it otherwise; refuse with exit code 1 and a clear message."""
    import os

    from hub.collect import seal
    from hub.collect.local import KeyState

    state = store.key_state()
    given = os.environ.get(seal.PASSPHRASE_ENV)
    try:
        if state is KeyState.SEALED:
            passphrase = given if given is not None else typer.prompt("请输入本机数据文件的口令", hide_input=True)
        elif given is None:
            if state is KeyState.PLAIN:
                typer.echo("本机数据文件中的单位签名私钥尚未加密保护，现在设置口令后将加密保存。")
            else:
                typer.echo("首次使用：请设置本机数据文件的口令，用于加密保护本单位的签名私钥。")
            typer.echo(f"口令至少{seal.MIN_PASSPHRASE_CHARS}个字符，请牢记，遗忘后无法导出数据包。")
            first = typer.prompt("设置口令", hide_input=True)
            passphrase = seal.check_new(first, typer.prompt("再次输入口令", hide_input=True))
        else:
            passphrase = seal.check_new(given)
        store.unlock(passphrase)
    except (seal.PassphraseRefused, seal.WrongPassphrase) as exc:
        typer.echo(f"未能打开：{exc}", err=True)
        raise typer.Exit(1) from None
    if state is KeyState.PLAIN:
        typer.echo("单位签名私钥已加密保存，原明文已清除。")


@collect_app.command("serve")
def serve(
    db: Annotated[Path, typer.Option("--db", help="本机数据文件（SQLite），不存在时新建")],
    port: Annotated[int, typer.Option(help="本机端口")] = 8765,
) -> None:
    """The offline collection form on http://127.0.0.1:PORT (only this machine can reach it)."""
    import uvicorn

    from hub.collect.local import LocalStore
    from portal_web.collect import local_app

    store = LocalStore(db)
    _unlock(store)
    typer.echo(f"本单位签名公钥指纹：{store.unit_key_fingerprint()}")
    typer.echo(f"请用浏览器打开 http://127.0.0.1:{port}/ ，填报内容保存在 {db}")
    uvicorn.run(local_app(store), host="127.0.0.1", port=port, log_level="warning")


@collect_app.command("export")
def export(
    db: Annotated[Path, typer.Option("--db", exists=True, dir_okay=False, help="本机数据文件（SQLite）")],
    agency_key: Annotated[Path, typer.Option("--agency-key", exists=True, dir_okay=False, help="经办机构公钥文件")],
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="导出的数据采集包")],
) -> None:
    """Write the saved collection as a package encrypted for the agency and signed by this unit."""
    from hub.collect import keys, package, sm2
    from hub.collect.local import LocalStore, NothingSaved
    from hub.errors import ValidationFailed

    store = LocalStore(db)
    if store.load() is None:
        typer.echo("未导出：尚未保存填报内容，请先运行 hub collect serve 填报并保存", err=True)
        raise typer.Exit(1)
    _unlock(store)
    try:
        data = store.export(keys.read_public_key_text(agency_key.read_text(encoding="utf-8")))
    except (NothingSaved, sm2.Sm2Error) as exc:
        typer.echo(f"未导出：{exc}", err=True)
        raise typer.Exit(1) from None
    except ValidationFailed as exc:
        typer.echo("未导出，填报内容有误：\n" + "\n".join(package.messages(exc)), err=True)
        raise typer.Exit(1) from None
    out.write_bytes(data)
    typer.echo(f"已导出 {out}（{len(data)} 字节）。本单位签名公钥指纹：{store.unit_key_fingerprint()}")


@collect_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="写出的公钥文件（发给单位）")],
    by: Annotated[str, typer.Option("--by", help="操作人员账号（记入密钥记录）")] = "cli",
) -> None:
    """Make the agency's SM2 key pair for packages; the private key is stored sealed under the KEK."""
    from gateway.cli import _endpoints
    from hub import pg
    from hub.collect import keys

    settings, ep = _endpoints()
    try:
        with pg.connect(ep.hub_db_url) as conn:
            made = keys.create(conn, settings.crypto.kek.get_secret_value(), created_by=by, now=datetime.now(UTC))
            conn.commit()
    finally:
        ep.stop()
    out.write_text(made.text(), encoding="utf-8")
    typer.echo(f"已生成数据采集密钥，公钥指纹 {made.fingerprint}，公钥已写入 {out}")


@collect_app.command("import")
def import_package(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="数据采集包")],
    preview: Annotated[bool, typer.Option("--preview", help="只校验和预览，不提交")] = False,
) -> None:
    """Verify, decrypt, validate and preview a package; submit it for review unless --preview."""
    from gateway.cli import _endpoints
    from hub import pg
    from hub.collect import keys, package
    from hub.collect import service as collect
    from hub.declarations.service import local_day
    from hub.errors import Conflict, ValidationFailed
    from hub.ids import mask_id_number

    settings, ep = _endpoints()
    kek = settings.crypto.kek.get_secret_value()
    data = path.read_bytes()
    now = datetime.now(UTC)
    try:
        with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as query:
            try:
                if preview:
                    shown = collect.preview_package(hub, query, data, kek=kek, subject=None, today=local_day(now))
                    decl = None
                else:
                    shown, decl = collect.import_package(hub, query, data, kek=kek, subject=None, now=now)
                    hub.commit()
            except package.PackageRefused as exc:
                typer.echo(f"未导入：{exc.message}", err=True)
                raise typer.Exit(1) from None
            except ValidationFailed as exc:
                typer.echo("未导入，内容有误：\n" + "\n".join(package.messages(exc)), err=True)
                raise typer.Exit(1) from None
            except (keys.KeysUnavailable, Conflict) as exc:
                typer.echo(f"未导入：{exc}", err=True)
                raise typer.Exit(1) from None
    finally:
        ep.stop()
    p = shown.opened.payload
    typer.echo(f"单位：{p['unit']['name']}（{p['unit']['uscc']}），统筹区 {p['unit']['region_code']}")
    typer.echo(f"单位签名公钥指纹：{shown.opened.unit_key_fingerprint}")
    typer.echo(f"将登记在职人员 {len(p['staff'])} 人、离退休人员 {len(p['retirees'])} 人：")
    for row in p["staff"]:
        masked = mask_id_number(row["id_number"])
        typer.echo(f"  在职 {row['name']} {masked} 参保 {row['start_date']} 工资 {row['monthly_wage']}")
    for row in p["retirees"]:
        typer.echo(f"  离退休 {row['name']} {mask_id_number(row['id_number'])} 离退休 {row['retire_date']}")
    for flag in shown.assessment.flags:
        typer.echo(f"  提示：{flag}")
    if decl is not None:
        typer.echo(f"已提交审核，受理号 {decl.reference}（申报编号 {decl.id}）")


@collect_app.command("deliver")
def deliver(
    every: Annotated[float, typer.Option(help="每隔多少秒再检查一次（0：只运行一次）", min=0)] = 0,
) -> None:
    """Send the activation code of every unit the core has opened from a collection (once per unit)."""
    import time

    from gateway.cli import _endpoints
    from hub import pg
    from hub.collect import service as collect
    from hub.identity import core_lookup
    from hub.identity.config import IdentityConfig

    settings, ep = _endpoints()
    cfg = IdentityConfig.from_settings(settings.auth)
    try:
        while True:
            with pg.connect(ep.hub_db_url) as hub, core_lookup.read_only(ep.core_db_url) as core:
                count = collect.deliver_openings(hub, core, cfg, now=datetime.now(UTC))
                hub.commit()
            typer.echo(f"已发送开通码 {count} 个")
            if not every:
                break
            time.sleep(every)
    finally:
        ep.stop()

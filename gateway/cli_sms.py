"""The `hub sms` commands: the worker, test sends, broadcast jobs (create, preview, approve, start, pause, progress)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from hub.settings import Settings

sms_app = typer.Typer(help="短信平台：发送进程、群发任务", no_args_is_help=True)
job_app = typer.Typer(help="群发任务（个人权益记录、工作通知）", no_args_is_help=True)
sms_app.add_typer(job_app, name="job")

By = Annotated[str, typer.Option("--by", help="工作人员账号")]


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hub` command line."""
    app.add_typer(sms_app, name="sms")


def _env() -> tuple[Settings, str, str]:
    from gateway.cli import _endpoints

    settings, ep = _endpoints()
    return settings, ep.hub_db_url, ep.query_db_url


@sms_app.command("run")
def run() -> None:
    """Run the sms worker (owns the SMPP binds) until SIGINT or SIGTERM; then unbind cleanly."""
    from gateway.cli import _endpoints, require_keys
    from sms.worker import Worker, make_transport

    settings, ep = _endpoints()
    try:
        settings.sms.check_environment(settings.environment)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    require_keys(settings, ep, "hub", "query")  # opens sealed recipients and the store's sealed phones
    # The worker's threads hand each batch on (claim → bind sender → reader → recorder); with the default 5 ms
    # switch interval a woken thread can wait that long for the interpreter lock at every hand-off.
    sys.setswitchinterval(0.0005)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = Worker(
        ep.hub_db_url, make_transport(settings.sms, settings.var_dir), settings.sms, query_db_url=ep.query_db_url
    )
    worker.run(stop)


@sms_app.command("send")
def send(
    to: Annotated[str, typer.Option(help="手机号码")],
    template: Annotated[str, typer.Option(help="模板名称")],
    field: Annotated[list[str] | None, typer.Option(help="模板字段 名称=值")] = None,
) -> None:
    """Queue one message (for trying the platform out); the worker sends it."""
    from hub import pg
    from hub.messaging.outbox import Priority, enqueue

    _, hub_url, _ = _env()
    values = dict(item.split("=", 1) for item in field or [])
    with pg.connect(hub_url) as conn:
        mid = enqueue(conn, to=to, template=template, personalisation=values, priority=Priority.NOTICE, purpose="cli")
        conn.commit()
    typer.echo(f"已加入发送队列：{mid}")


@sms_app.command("status")
def status() -> None:
    """Messages per state, and the jobs (JSON)."""
    from hub import pg

    _, hub_url, _ = _env()
    with pg.connect(hub_url) as conn:
        rows = conn.execute("select status, count(*) from hub.sms_message group by status").fetchall()
        states = {str(r[0]): int(str(r[1])) for r in rows}
        jobs = conn.execute("select id, title, status from hub.sms_job order by id").fetchall()
    print(
        json.dumps(
            {"messages": states, "jobs": [{"id": j[0], "title": j[1], "status": j[2]} for j in jobs]},
            ensure_ascii=False,
        )
    )


def _job_call(action: str, job_id: int, by: str | None = None) -> None:
    from hub import pg
    from sms import jobs

    _, hub_url, _ = _env()
    with pg.connect(hub_url) as conn:
        try:
            if action == "approve":
                assert by is not None
                jobs.approve(conn, job_id, by)
            else:
                getattr(jobs, action)(conn, job_id)
        except jobs.JobError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        conn.commit()


@job_app.command("upload")
def job_upload(
    file: Annotated[Path, typer.Argument(help="CSV 名单：phone 列和模板字段")],
    title: Annotated[str, typer.Option(help="任务名称")],
    by: By,
    template: Annotated[str, typer.Option(help="模板名称")] = "staff_notice",
    mandatory: Annotated[bool, typer.Option(help="必达通知（不受退订影响）")] = False,
) -> None:
    """Create a job from an uploaded list; nothing is written when a row is bad."""
    from hub import pg
    from sms import jobs

    _, hub_url, _ = _env()
    with pg.connect(hub_url) as conn:
        try:
            job_id = jobs.create_from_upload(
                conn,
                title=title,
                template=template,
                data=file.read_text(encoding="utf-8"),
                created_by=by,
                mandatory=mandatory,
            )
        except jobs.JobError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        conn.commit()
    typer.echo(f"已创建群发任务 {job_id}，请预览后交由其他工作人员审批")


@job_app.command("rights")
def job_rights(
    year: Annotated[int, typer.Option(help="权益记录年度")],
    by: By,
    region: Annotated[list[str] | None, typer.Option(help="只发给该统筹区（可重复）")] = None,
) -> None:
    """Create the yearly 个人权益记录 broadcast from the query store (optionally for some 统筹区 only)."""
    from hub import pg
    from sms import jobs

    _, hub_url, _ = _env()
    with pg.connect(hub_url) as conn:
        job_id = jobs.create_rights_statement(conn, year=year, created_by=by, regions=region or None)
        conn.commit()
    typer.echo(f"已创建群发任务 {job_id}（{year}年度个人权益记录），收件人名单由 hub sms run 在后台准备")


@job_app.command("preview")
def job_preview(job_id: int) -> None:
    """Recipients, billed segments, cost estimate and sample messages (phones masked)."""
    from hub import pg
    from sms import jobs

    settings, hub_url, _ = _env()
    with pg.connect(hub_url) as conn:
        p = jobs.preview(conn, job_id, settings.sms)
        conn.commit()
    typer.echo(f"收件人 {p.recipients:,} 人，计费短信 {p.segments:,} 条，预计费用 {p.cost:.2f} 元")
    for sample in p.samples:
        typer.echo(f"  示例 {sample}")


@job_app.command("approve")
def job_approve(job_id: int, by: By) -> None:
    """Approve a previewed job (a staff member other than its creator)."""
    _job_call("approve", job_id, by)
    typer.echo("已审批")


@job_app.command("start")
def job_start(job_id: int) -> None:
    """Start (or resume) sending; only inside the send window."""
    _job_call("start", job_id)
    typer.echo("已开始发送")


@job_app.command("pause")
def job_pause(job_id: int) -> None:
    _job_call("pause", job_id)
    typer.echo("已暂停")


@job_app.command("cancel")
def job_cancel(job_id: int) -> None:
    _job_call("cancel", job_id)
    typer.echo("已取消")


@job_app.command("progress")
def job_progress(job_id: int, follow: Annotated[bool, typer.Option(help="持续显示直到发送完毕")] = True) -> None:
    """Live progress of a job (rich progress bar) until every recipient has a final state."""
    from gateway.cli import progress_bar
    from hub import pg
    from sms import jobs, limits

    settings, hub_url, _ = _env()
    cfg = settings.sms
    if not limits.in_window(datetime.now(UTC), cfg.window_start, cfg.window_end, cfg.timezone):
        typer.echo(f"当前不在群发时段（{cfg.window_start:%H:%M}–{cfg.window_end:%H:%M}），时段开始后自动发送")
    with pg.connect(hub_url, autocommit=True) as conn, progress_bar() as bar:
        while True:
            p = jobs.progress(conn, job_id)
            if p.status == "preparing":  # the worker is filling the recipients in from the query store
                bar(f"群发任务 {job_id}（准备收件人名单）", p.prepared, p.prepare_total or 0)
            else:
                bar(f"群发任务 {job_id}（{p.status}）", p.finished, p.total)
            if not follow or p.status in ("done", "cancelled"):
                break
            time.sleep(0.5)
    typer.echo(json.dumps(p.by_state, ensure_ascii=False))

"""The core's command API, in the style of the source system's ESB web service.

``POST /esb/commands`` carries one command (``command_id``, ``type``, ``unit_id``, ``business_date``,
``payload``) and answers with its outcome: ``applied`` with the result and the core position of the
change, or ``failed`` with the core's reason. It is idempotent by command id: sending the same command
again, concurrently or after a crash, answers the recorded outcome and changes nothing. The same id
with a different content answers 409. ``GET /esb/commands/{id}`` reads an outcome back.
A command may carry ``attachments`` (supporting documents inline in base64 with their SHA-256 and SM3
digests) that the core checks and files in its 电子档案 (``core/archive.py``) with the command's effect;
``GET /esb/commands/{id}/archive`` lists what was filed.

When a token is configured (``HUB_DECLARATIONS__CORE_API_TOKEN``), every request must carry it in
``X-ESB-Token`` (compared in constant time), as the source system's ESB gave each consumer a credential.

Run it with ``python -m core.api --core-db-url … --port …`` (or ``hub declarations core-api``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from core import archive, commands
from hub import pg

log = logging.getLogger(__name__)


class AttachmentIn(BaseModel):
    """A supporting document sent inline for the 电子档案 (core/archive.py)."""

    attachment_id: int
    filename: str = Field(max_length=120)
    media_type: str = Field(max_length=40)
    size: int = Field(gt=0)
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    sm3: str = Field(pattern="^[0-9a-f]{64}$")
    content_base64: str

    def file(self) -> archive.ArchiveFile:
        try:
            content = base64.b64decode(self.content_base64, validate=True)
        except binascii.Error:
            raise HTTPException(422, "附件内容编码不正确") from None
        return archive.ArchiveFile(
            self.attachment_id, self.filename, self.media_type, self.size, self.sha256, self.sm3, content
        )


class CommandIn(BaseModel):
    command_id: uuid.UUID
    type: str = Field(max_length=30)
    unit_id: int
    business_date: date
    payload: dict[str, Any]
    reference: str = Field("", max_length=40)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)


class CommandOut(BaseModel):
    command_id: str
    status: str
    reason: str | None
    result: dict[str, Any]
    position: str | None
    replayed: bool


def _out(o: commands.Outcome) -> CommandOut:
    return CommandOut(
        command_id=o.command_id,
        status=o.status,
        reason=o.reason,
        result=o.result,
        position=o.position,
        replayed=o.replayed,
    )


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("set timezone = 'UTC'")
    conn.commit()


TOKEN_ENV = "HUB_DECLARATIONS__CORE_API_TOKEN"  # noqa: S105 (the name of the variable, not a secret)


def create_app(core_db_url: str, *, token: str | None = None, pool_size: int = 4) -> FastAPI:
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        pg.libpq(core_db_url),
        min_size=1,
        max_size=pool_size,
        open=False,
        configure=_configure,
        kwargs={"application_name": "core-api"},
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True, timeout=30)
        with pool.connection() as conn:
            commands.ensure_log(conn)
        try:
            yield
        finally:
            pool.close()

    def credential(x_esb_token: str | None = Header(None)) -> None:
        if token and not hmac.compare_digest((x_esb_token or "").encode(), token.encode()):
            raise HTTPException(401, "接口凭证无效")

    app = FastAPI(title="核心业务系统指令接口", lifespan=lifespan, docs_url=None, redoc_url=None)
    guarded = [Depends(credential)]

    @app.post("/esb/commands", response_model=CommandOut, dependencies=guarded)
    def post_command(body: CommandIn) -> CommandOut:
        """Apply one command (idempotent by ``command_id``)."""
        command = commands.Command(
            body.command_id,
            body.type,
            body.unit_id,
            body.business_date,
            body.payload,
            body.reference,
            tuple(a.file() for a in body.attachments),
        )
        with pool.connection() as conn:
            try:
                return _out(commands.execute(conn, command))
            except commands.CommandMismatch:
                raise HTTPException(409, "指令编号已使用且内容不同") from None
            except psycopg.OperationalError as exc:
                log.error("command %s: database unavailable (%s)", body.command_id, type(exc).__name__)
                raise HTTPException(503, "核心系统暂不可用") from None

    @app.get("/esb/commands/{command_id}", response_model=CommandOut, dependencies=guarded)
    def get_command(command_id: uuid.UUID) -> CommandOut:
        """The recorded outcome of a command."""
        with pool.connection() as conn:
            known = commands.recorded(conn, command_id)
            conn.rollback()
        if known is None:
            raise HTTPException(404, "指令不存在")
        return _out(known[0])

    @app.get("/esb/commands/{command_id}/archive", dependencies=guarded)
    def get_archive(command_id: uuid.UUID) -> list[dict[str, Any]]:
        """The 电子档案 filed with a command: metadata and digests of its supporting documents."""
        with pool.connection() as conn:
            filed = archive.listing(conn, command_id)
            conn.rollback()
        return filed

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        with pool.connection() as conn:
            conn.execute("select 1")
            conn.rollback()
        return {"status": "ok"}

    return app


def serve(core_db_url: str, host: str, port: int, token: str | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(core_db_url, token=token), host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="核心业务系统指令接口")
    parser.add_argument("--core-db-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(args.core_db_url, args.host, args.port, os.environ.get(TOKEN_ENV) or None)


if __name__ == "__main__":
    main()

"""App version check per platform: latest, minimum supported, forced update, download URL and notes.

Staff (the system administrator) set a platform's row with ``set_version``; the app asks ``check`` with
its own version. A version below the minimum must update (forced), one below the latest may.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from hub.access.subject import StaffRole, Subject
from hub.content import staff
from hub.errors import NotFound, ValidationFailed

VERSION_RE = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,4}){0,3}")


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    HARMONY = "harmony"


class Update(StrEnum):
    NONE = "none"  # up to date
    OPTIONAL = "optional"  # a newer version exists
    FORCED = "forced"  # below the minimum supported version: the app must update before use


class VersionRead(BaseModel):
    platform: Platform
    latest: str = Field(description="最新版本号")
    minimum: str = Field(description="最低支持版本号，低于此版本须强制更新")
    download_url: str = Field(description="下载地址")
    notes: str = Field(description="更新说明")


class VersionCheck(VersionRead):
    current: str = Field(description="客户端当前版本号")
    update: Update = Field(description="none 无需更新 / optional 建议更新 / forced 强制更新")
    forced: bool = Field(description="是否强制更新")


def parse(version: str) -> tuple[int, ...]:
    """'3.2.10' -> (3, 2, 10, 0): numeric parts, padded to four so that 3.2 == 3.2.0."""
    if not VERSION_RE.fullmatch(version):
        raise ValidationFailed("版本号格式不正确，应为数字和点，如 3.2.1")
    parts = tuple(int(p) for p in version.split("."))
    return parts + (0,) * (4 - len(parts))


def check(row: VersionRead, current: str) -> VersionCheck:
    """What a client at ``current`` must do, given the platform's published row."""
    mine = parse(current)
    if mine < parse(row.minimum):
        update = Update.FORCED
    elif mine < parse(row.latest):
        update = Update.OPTIONAL
    else:
        update = Update.NONE
    return VersionCheck(**row.model_dump(), current=current, update=update, forced=update is Update.FORCED)


def set_version(
    conn: psycopg.Connection[Any],
    actor: Subject,
    *,
    platform: Platform,
    latest: str,
    minimum: str,
    download_url: str,
    notes: str = "",
    now: datetime,
) -> VersionRead:
    """Publish a platform's version row. System administrator only; audited; never commits.

    Raises ValidationFailed for a malformed version, a minimum above the latest, a download URL that
    is not https, or notes over 1,000 characters.
    """
    staff.require_role(actor, StaffRole.SYSTEM_ADMIN)
    if parse(minimum) > parse(latest):
        raise ValidationFailed("最低支持版本不能高于最新版本")
    url = urlsplit(download_url)
    if url.scheme != "https" or not url.netloc or len(download_url) > 500:
        raise ValidationFailed("下载地址须为 https 地址")
    if len(notes) > 1000:
        raise ValidationFailed("更新说明不能超过1000字")
    conn.execute(
        "insert into hub.app_version (platform, latest, minimum, download_url, notes, updated_at, updated_by) "
        "values (%s, %s, %s, %s, %s, %s, %s) on conflict (platform) do update set latest = excluded.latest, "
        "minimum = excluded.minimum, download_url = excluded.download_url, notes = excluded.notes, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (platform.value, latest, minimum, download_url, notes, now, actor.account_id),
    )
    staff.event(conn, actor, "app.version.set", "app_version", f"{platform.value}:{latest}:{minimum}", now)
    return VersionRead(platform=platform, latest=latest, minimum=minimum, download_url=download_url, notes=notes)


def list_versions(conn: psycopg.Connection[Any]) -> list[VersionRead]:
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        "select platform, latest, minimum, download_url, notes from hub.app_version order by platform"
    ).fetchall()
    return [VersionRead.model_validate(r) for r in rows]


async def get_version(conn: AsyncConnection[Any], platform: Platform) -> VersionRead:
    """The published row of ``platform``; NotFound when none was set. Public."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "select platform, latest, minimum, download_url, notes from hub.app_version where platform = %s",
        (platform.value,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("该平台暂无版本信息")
    return VersionRead.model_validate(row)

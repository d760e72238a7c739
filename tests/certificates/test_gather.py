"""Certificate contents read from a seeded, backfilled query store, for callers who may have them only;
then issued, signed and verified end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from hub import pg
from hub.access.context import Caller, ReadContext
from hub.access.subject import Subject
from hub.audit.writer import AuditLog
from hub.certificates import gather
from hub.certificates import service as certificates
from hub.certificates.config import CertificateSettings
from hub.certificates.content import Content
from hub.certificates.fonts import Face
from hub.db import ReadConnection, WriteConnection
from hub.errors import NotFound
from tests.api.actors import cast
from tests.api.conftest import Province, province  # noqa: F401 - the seeded province fixture

T = TypeVar("T")
AS_OF = date(2026, 11, 27)


def _run(p: Province, subject: Subject, work: Callable[[ReadContext], Awaitable[T]]) -> tuple[T, list[tuple[Any, ...]]]:
    """Run ``work`` with a read context of ``subject`` over the store; returns its result and the audit rows."""

    async def go() -> T:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(pg.libpq(p.hub_url), min_size=1, max_size=2, open=False)
        await pool.open()
        audit = AuditLog(pool, anchor_key=b"test audit anchor key")
        await audit.start()
        try:
            async with await psycopg.AsyncConnection.connect(pg.libpq(p.query_url)) as conn:
                ctx = ReadContext(ReadConnection(conn), Caller(subject, "req-cert"), audit, "test")
                return await work(ctx)
        finally:
            await audit.close()
            await pool.close()

    result = asyncio.run(go())
    with psycopg.connect(pg.libpq(p.hub_url)) as conn:
        rows = conn.execute(
            "select action, target_id, result from hub.audit_log where request_id = 'req-cert' order by at, seq"
        ).fetchall()
    return result, rows


def _query(p: Province, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.libpq(p.query_url)) as conn:
        return conn.execute(sql, args).fetchall()


def test_person_certificate_states_the_stored_record(province: Province) -> None:  # noqa: F811
    c = cast(province)
    content, audit = _run(province, c.actors["person_a"], lambda ctx: gather.person_certificate(ctx, c.a, as_of=AS_OF))
    name, id_number = (province.persons[c.a][k] for k in ("name", "id_number"))  # decrypted by the fixture
    lines = dict((line.label, line.value) for line in content.lines)
    assert lines["姓名"] == name and lines["公民身份号码"] == id_number  # in full on the certificate
    assert dict(content.masked()["lines"])["公民身份号码"] != id_number  # masked on the public page
    table = content.tables[0]
    by_insurance = {row[0]: row for row in table.rows}
    basic = by_insurance["机关事业单位养老保险"]
    paid = _query(
        province,
        "select count(distinct period), max(period) from contribution_month where person_id = %s "
        "and insurance = '120' and paid",
        c.a,
    )[0]
    assert basic[4] == str(paid[0]) and basic[5] == f"{paid[1] // 100}年{paid[1] % 100:02d}月"
    assert ("certificate.person", str(c.a), "ok") in audit


def test_someone_elses_certificate_is_not_found(province: Province) -> None:  # noqa: F811
    c = cast(province)

    async def other(ctx: ReadContext) -> Content:
        return await gather.person_certificate(ctx, c.b, as_of=AS_OF)

    with pytest.raises(NotFound):
        _run(province, c.actors["person_a"], other)
    with pytest.raises(NotFound):
        _run(province, c.actors["operator_y"], lambda ctx: gather.unit_certificate(ctx, c.x, as_of=AS_OF))


def test_rights_statement_and_unit_certificate(province: Province) -> None:  # noqa: F811
    c = cast(province)
    year = _query(province, "select max(year) from rights_statement where person_id = %s", c.a)[0][0]
    statement, _ = _run(
        province, c.actors["person_a"], lambda ctx: gather.rights_statement(ctx, c.a, year, as_of=AS_OF)
    )
    rows = {r[0]: r for r in statement.tables[0].rows}
    person_amount = _query(
        province,
        "select person_amount from rights_statement where person_id = %s and year = %s and insurance = '120'",
        c.a,
        year,
    )[0][0]
    assert rows["机关事业单位养老保险"][4] == f"{Decimal(person_amount):,.2f}"
    # 年末账户储存额: the year's closing balance of the basic account (the store names it BASIC).
    closing = _query(
        province,
        "select closing from account_year where person_id = %s and year = %s and account = 'BASIC'",
        c.a,
        year,
    )
    assert closing, "the seeded person has a basic account for the year"
    assert rows["机关事业单位养老保险"][7] == f"{Decimal(closing[0][0]):,.2f}"
    with pytest.raises(NotFound):
        _run(province, c.actors["person_a"], lambda ctx: gather.rights_statement(ctx, c.a, 1999, as_of=AS_OF))

    unit, audit = _run(province, c.actors["operator_x"], lambda ctx: gather.unit_certificate(ctx, c.x, as_of=AS_OF))
    unit_name = _query(province, "select name from unit_overview where unit_id = %s", c.x)[0][0]
    assert dict((line.label, line.value) for line in unit.lines)["单位名称"] == unit_name
    assert ("certificate.unit", str(c.x), "ok") in audit


def test_issued_from_the_store_and_verified(province: Province, faces: tuple[Face, ...]) -> None:  # noqa: F811
    c = cast(province)
    content, _ = _run(province, c.actors["person_a"], lambda ctx: gather.person_certificate(ctx, c.a, as_of=AS_OF))
    settings = CertificateSettings(mac_key="test-certificate-mac-key")

    async def issue_and_verify() -> certificates.Verification:
        async with await psycopg.AsyncConnection.connect(pg.libpq(province.hub_url)) as conn:
            issued = await certificates.issue(
                WriteConnection(conn), content, settings=settings, key_encryption_key="kek", faces=faces,
                now=datetime.now(UTC),
            )  # fmt: skip
            await conn.commit()
            return await certificates.verify(
                WriteConnection(conn), issued.code, settings=settings, now=datetime.now(UTC)
            )

    result = asyncio.run(issue_and_verify())
    assert result.outcome is certificates.Outcome.VALID and result.masked == content.masked()

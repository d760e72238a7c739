"""Broadcast jobs: the yearly 个人权益记录 to every insured person with a phone, and staff notices.

A job is created from a query (the query store) or an uploaded list, as one message per recipient
(unique per job, so nobody is in it twice), previewed (count, segments, cost, masked samples), approved by a
second staff member, then started; the worker sends it only inside the send window, throttled, and it
can be paused and resumed. Its messages follow the same states as any other, so a crash leaves them
exactly where they were; a submit in flight at a crash becomes 'unknown' and the job's policy decides
(the rights statement: 'hold', never resent).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from hub import pg
from hub.config.sms import SmsSettings
from hub.ids import mask_phone
from hub.messaging import templates
from hub.messaging.outbox import Priority
from sms import text

Conn = psycopg.Connection[Any]
PHONE = re.compile(r"^1[3-9]\d{9}$")
BASIC_INSURANCE = "120"
ANNUITY_INSURANCE = "116"


class JobError(ValueError):
    """A job operation that is not allowed now; the message is user-facing (Simplified Chinese)."""


@dataclass(frozen=True)
class Recipient:
    phone: str
    personalisation: dict[str, str]


@dataclass
class Preview:
    recipients: int
    segments: int
    cost: Decimal
    samples: list[str] = field(default_factory=list)  # masked phone and the text


def _insert(conn: Conn, job_id: int, template: str, mandatory: bool, recipients: Iterable[Recipient]) -> int:
    count = 0
    with conn.cursor() as cur:
        # COPY into a staging table, then one insert that drops duplicates within the job.
        cur.execute(
            "create temp table if not exists sms_job_stage (recipient text, personalisation jsonb) on commit drop"
        )
        with cur.copy("copy sms_job_stage (recipient, personalisation) from stdin") as copy:
            for r in recipients:
                copy.write_row((r.phone, json.dumps(r.personalisation, ensure_ascii=False)))
                count += 1
        cur.execute(
            """
            insert into hub.sms_message (recipient, template, personalisation, priority, purpose, mandatory, job_id)
            select distinct on (recipient) recipient, %s, personalisation, %s, 'broadcast', %s, %s
            from sms_job_stage order by recipient
            on conflict do nothing
            """,
            (template, int(Priority.BULK), mandatory, job_id),
        )
        cur.execute("drop table sms_job_stage")
    return count


def _new_job(
    conn: Conn,
    *,
    kind: str,
    title: str,
    template: str,
    source: str,
    created_by: str,
    mandatory: bool,
    unknown_policy: str,
    rate_per_second: float | None,
) -> int:
    templates.get(template)
    row = conn.execute(
        "insert into hub.sms_job (kind, title, template, purpose, mandatory, source, unknown_policy, rate_per_second, "
        "created_by) values (%s, %s, %s, 'broadcast', %s, %s, %s, %s, %s) returning id",
        (kind, title, template, mandatory, source, unknown_policy, rate_per_second, created_by),
    ).fetchone()
    assert row is not None
    return int(row[0])


def parse_upload(data: str) -> tuple[list[Recipient], list[str]]:
    """A CSV with a header: ``phone`` and the template's fields. Returns recipients and every bad row."""
    reader = csv.DictReader(io.StringIO(data))
    if not reader.fieldnames or "phone" not in reader.fieldnames:
        return [], ["第1行：缺少 phone 列"]
    recipients: list[Recipient] = []
    errors: list[str] = []
    for line, row in enumerate(reader, start=2):
        phone = (row.get("phone") or "").strip()
        if not PHONE.match(phone):
            errors.append(f"第{line}行：手机号码格式不正确（{mask_phone(phone)}）")
            continue
        recipients.append(Recipient(phone, {k: (v or "").strip() for k, v in row.items() if k and k != "phone"}))
    return recipients, errors


def create_from_upload(
    conn: Conn,
    *,
    title: str,
    template: str,
    data: str,
    created_by: str,
    kind: str = "notice",
    mandatory: bool = False,
    unknown_policy: str = "hold",
    rate_per_second: float | None = None,
) -> int:
    """A job from an uploaded CSV; nothing is written when any row is bad (``JobError`` lists them all)."""
    recipients, errors = parse_upload(data)
    if errors:
        raise JobError("上传的名单有误：" + "；".join(errors[:20]) + ("…" if len(errors) > 20 else ""))
    for r in recipients[:1]:
        templates.render(template, r.personalisation)
    job_id = _new_job(
        conn,
        kind=kind,
        title=title,
        template=template,
        source="upload",
        created_by=created_by,
        mandatory=mandatory,
        unknown_policy=unknown_policy,
        rate_per_second=rate_per_second,
    )
    _insert(conn, job_id, template, mandatory, recipients)
    return job_id


def create_notice(
    conn: Conn,
    *,
    title: str,
    recipients: Sequence[Recipient],
    created_by: str,
    mandatory: bool = False,
    rate_per_second: float | None = None,
) -> int:
    """A staff notice to a checked list (``sms.notice``): each recipient's text is its ``content``."""
    if not title.strip() or len(title.strip()) > 60:
        raise JobError("请填写任务名称（不超过60字）")
    if not recipients:
        raise JobError("名单中没有收件人")
    job_id = _new_job(
        conn,
        kind="notice",
        title=title.strip(),
        template="staff_notice",
        source="upload",
        created_by=created_by,
        mandatory=mandatory,
        unknown_policy="hold",
        rate_per_second=rate_per_second,
    )
    _insert(conn, job_id, "staff_notice", mandatory, recipients)
    return job_id


def rights_statement_recipients(query_url: str, year: int, regions: Sequence[str] | None = None) -> Iterator[Recipient]:
    """Every insured person with a mobile phone and a rights statement for ``year`` (query store); with
    ``regions``, only the persons of those 统筹区.

    Where the store keeps the phone sealed (``phone_enc``, ``hub.crypto.columns``), it is opened here, a batch
    at a time; a row not sealed yet keeps its plain ``phone``.
    """
    with pg.connect(query_url) as q:
        found = q.execute(
            "select exists (select 1 from information_schema.columns where table_schema = current_schema() "
            "and table_name = 'person_overview' and column_name = 'phone_enc')"
        ).fetchone()
        sealed = bool(found and found[0])
        envelope = "p.phone_enc" if sealed else "null::bytea"
        with q.cursor(name="sms_rights", row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(
                f"""
                select p.person_id, {envelope} as phone_enc, p.phone, p.name,
                       coalesce(sum(r.rows) filter (where r.insurance = %(basic)s), 0) as months,
                       coalesce(sum(r.person_amount) filter (where r.insurance = %(basic)s), 0) as person_amount,
                       coalesce(sum(r.to_account) filter (where r.insurance = %(basic)s), 0) as to_account,
                       coalesce(sum(r.person_amount) filter (where r.insurance = %(annuity)s), 0) as annuity
                from person_overview p join rights_statement r on r.person_id = p.person_id and r.year = %(year)s
                where ({envelope} is not null or p.phone ~ '^1[3-9][0-9]{{9}}$')
                  and (%(all_regions)s or p.region_code = any(%(regions)s))
                group by p.person_id
                order by p.person_id
                """,
                {
                    "year": year,
                    "basic": BASIC_INSURANCE,
                    "annuity": ANNUITY_INSURANCE,
                    "all_regions": regions is None,
                    "regions": list(regions or ()),
                },
            )
            while batch := cur.fetchmany(5000):
                if sealed:
                    from hub.crypto import columns

                    columns.reveal(q, "person_overview", batch)
                for row in batch:
                    phone = str(row["phone"] or "")
                    if not PHONE.match(phone):
                        continue
                    yield Recipient(
                        phone,
                        {
                            "name": str(row["name"] or ""),
                            "year": str(year),
                            "months": str(row["months"]),
                            "person_amount": f"{Decimal(str(row['person_amount'])):.2f}",
                            "to_account": f"{Decimal(str(row['to_account'])):.2f}",
                            "annuity_amount": f"{Decimal(str(row['annuity'])):.2f}",
                        },
                    )


def create_rights_statement(
    conn: Conn, *, year: int, created_by: str, recipients: Iterable[Recipient], rate_per_second: float | None = None
) -> int:
    """The yearly 个人权益记录 broadcast (mandatory 通知类; unknown submits are never resent)."""
    job_id = _new_job(
        conn,
        kind="rights_statement",
        title=f"{year}年度个人权益记录",
        template="rights_statement",
        source="query",
        created_by=created_by,
        mandatory=True,
        unknown_policy="hold",
        rate_per_second=rate_per_second,
    )
    _insert(conn, job_id, "rights_statement", True, recipients)
    return job_id


def _text(job: dict[str, Any], personalisation: dict[str, Any], settings: SmsSettings) -> str:
    """The signed text a message of ``job`` is sent with (as the worker renders it)."""
    values = {str(k): str(v) for k, v in personalisation.items()}
    return text.sign(settings.signature, templates.render(job["template"], values, mandatory=job["mandatory"]))


def preview(conn: Conn, job_id: int, settings: SmsSettings, samples: int = 3) -> Preview:
    """Count, billed segments and cost of the job as it stands; samples with the phone masked."""
    job = _job(conn, job_id)
    out = Preview(0, 0, Decimal(0))
    with conn.cursor(name=f"sms_preview_{job_id}") as cur:
        cur.itersize = 5000
        cur.execute("select recipient, personalisation from hub.sms_message where job_id = %s order by id", (job_id,))
        for recipient, personalisation in cur:
            body = _text(job, personalisation, settings)
            n = text.segment_count(body)
            out.recipients += 1
            out.segments += n
            if len(out.samples) < samples:
                out.samples.append(f"{mask_phone(str(recipient))}：{body}")
    out.cost = settings.cost_per_segment * out.segments
    conn.execute(
        "update hub.sms_job set recipients = %s, segments = %s, cost_estimate = %s where id = %s",
        (out.recipients, out.segments, out.cost, job_id),
    )
    return out


def samples(conn: Conn, job_id: int, settings: SmsSettings, n: int = 3) -> list[str]:
    """The first ``n`` messages of a job as they will be sent, each behind its masked phone (as in ``preview``)."""
    job = _job(conn, job_id)
    rows = conn.execute(
        "select recipient, personalisation from hub.sms_message where job_id = %s order by id limit %s", (job_id, n)
    ).fetchall()
    return [
        f"{mask_phone(str(recipient))}：{_text(job, personalisation, settings)}" for recipient, personalisation in rows
    ]


def _job(conn: Conn, job_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("select * from hub.sms_job where id = %s", (job_id,)).fetchone()
    if row is None:
        raise JobError(f"群发任务 {job_id} 不存在")
    return row


def get(conn: Conn, job_id: int) -> dict[str, Any]:
    """One job's row (raises JobError when there is none)."""
    return _job(conn, job_id)


def approve(conn: Conn, job_id: int, approver: str) -> None:
    """A second staff member approves: never the one who created the job."""
    job = _job(conn, job_id)
    if job["status"] != "draft":
        raise JobError("只有草稿状态的群发任务可以审批")
    if approver == job["created_by"]:
        raise JobError("群发任务须由创建人以外的工作人员审批")
    if not job["recipients"]:
        raise JobError("请先预览群发任务（核对人数、条数和费用）再审批")
    conn.execute(
        "update hub.sms_job set status = 'approved', approved_by = %s, approved_at = now() where id = %s",
        (approver, job_id),
    )


def _move(conn: Conn, job_id: int, allowed: tuple[str, ...], to: str, message: str) -> None:
    job = _job(conn, job_id)
    if job["status"] not in allowed:
        raise JobError(message)
    extra = ", started_at = coalesce(started_at, now())" if to == "running" else ""
    conn.execute(f"update hub.sms_job set status = %s{extra} where id = %s", (to, job_id))


def start(conn: Conn, job_id: int) -> None:
    """Approved (or paused) → running; the worker sends only inside the send window."""
    _move(conn, job_id, ("approved", "paused"), "running", "只有已审批或已暂停的群发任务可以开始发送")


def pause(conn: Conn, job_id: int) -> None:
    _move(conn, job_id, ("running",), "paused", "只有发送中的群发任务可以暂停")


def cancel(conn: Conn, job_id: int) -> None:
    _move(conn, job_id, ("draft", "approved", "paused"), "cancelled", "发送中的群发任务请先暂停再取消")


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    by_state: dict[str, int]

    @property
    def finished(self) -> int:
        return sum(n for s, n in self.by_state.items() if s not in ("created", "queued"))


def progress(conn: Conn, job_id: int) -> Progress:
    job = _job(conn, job_id)
    rows = conn.execute(
        "select status, count(*) from hub.sms_message where job_id = %s group by status", (job_id,)
    ).fetchall()
    by_state = {str(s): int(n) for s, n in rows}
    return Progress(str(job["status"]), sum(by_state.values()), by_state)

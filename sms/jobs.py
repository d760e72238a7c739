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
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from hub import pg
from hub.config.sms import SmsSettings
from hub.crypto.fields import Keyring, Kind
from hub.ids import mask_phone
from hub.messaging import sealed, templates
from hub.messaging.outbox import Priority
from sms import text

Conn = psycopg.Connection[Any]
PHONE = re.compile(r"^1[3-9]\d{9}$")
BASIC_INSURANCE = "120"
ANNUITY_INSURANCE = "116"


_PREPARING = "收件人名单正在准备中（已核对 {prepared} / {total} 人），准备完成后才能预览和审批"


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


_STAGE = (
    "create temp table if not exists sms_job_stage (id bigint, recipient_enc bytea, recipient_bidx bytea, "
    "recipient_pidx bytea, personalisation_enc bytea) on commit drop"
)


def _insert_chunk(
    conn: Conn, keyring: Keyring, job_id: int, template: str, mandatory: bool, chunk: Sequence[Recipient]
) -> list[tuple[int, Recipient]]:
    """Seal ``chunk`` (ids drawn first: each envelope is bound to its row) and insert it through COPY into a
    staging table and one insert that skips numbers already in the job (the unique blind-index key). Returns
    the messages inserted with their recipients."""
    unique: dict[bytes, Recipient] = {}
    for r in chunk:
        unique.setdefault(sealed.number_index(keyring, r.phone), r)
    ids = sealed.next_ids(conn, len(unique))
    by_id: dict[int, Recipient] = {}
    with conn.cursor() as cur:
        cur.execute(_STAGE)
        with cur.copy(
            "copy sms_job_stage (id, recipient_enc, recipient_bidx, recipient_pidx, personalisation_enc) from stdin"
        ) as copy:
            for (number, r), message_id in zip(unique.items(), ids, strict=True):
                by_id[message_id] = r
                copy.write_row(
                    (
                        message_id,
                        keyring.seal(Kind.PHONE, r.phone, sealed.RECIPIENT.context((message_id,))),
                        number,
                        sealed.prefix_index(keyring, r.phone),
                        keyring.seal(
                            Kind.DOCUMENT,
                            sealed.document(r.personalisation),
                            sealed.PERSONALISATION.context((message_id,)),
                        ),
                    )
                )
        cur.execute(
            """
            insert into hub.sms_message (id, recipient_enc, recipient_bidx, recipient_pidx, personalisation_enc,
                template, priority, purpose, mandatory, job_id)
            select id, recipient_enc, recipient_bidx, recipient_pidx, personalisation_enc, %s, %s, 'broadcast', %s, %s
            from sms_job_stage order by id
            on conflict do nothing
            returning id
            """,
            (template, int(Priority.BULK), mandatory, job_id),
        )
        inserted = [int(r[0]) for r in cur.fetchall()]
        cur.execute("truncate sms_job_stage")
    return [(i, by_id[i]) for i in sorted(inserted)]


def _insert(
    conn: Conn, job_id: int, template: str, mandatory: bool, recipients: Iterable[Recipient], chunk: int = 5000
) -> int:
    """Every recipient of a new job, sealed and inserted ``chunk`` at a time; returns the recipients read."""
    keyring = sealed.for_writing(conn)
    count = 0
    batch: list[Recipient] = []
    for r in recipients:
        batch.append(r)
        if len(batch) >= chunk:
            _insert_chunk(conn, keyring, job_id, template, mandatory, batch)
            count += len(batch)
            batch = []
    if batch:
        _insert_chunk(conn, keyring, job_id, template, mandatory, batch)
        count += len(batch)
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


def _store_sealed(q: Conn) -> bool:
    found = q.execute(
        "select exists (select 1 from information_schema.columns where table_schema = current_schema() "
        "and table_name = 'person_overview' and column_name = 'phone_enc')"
    ).fetchone()
    return bool(found and found[0])


def _rights_where(envelope: str) -> str:
    return f"""
        from person_overview p join rights_statement r on r.person_id = p.person_id and r.year = %(year)s
        where ({envelope} is not null or p.phone ~ '^1[3-9][0-9]{{9}}$')
          and (%(all_regions)s or p.region_code = any(%(regions)s))
          and p.person_id > %(after)s
    """


def _rights_params(year: int, regions: Sequence[str] | None, after: int) -> dict[str, Any]:
    return {
        "year": year,
        "basic": BASIC_INSURANCE,
        "annuity": ANNUITY_INSURANCE,
        "all_regions": regions is None,
        "regions": list(regions or ()),
        "after": after,
    }


def _rights_recipient(row: dict[str, Any], year: int) -> Recipient | None:
    phone = str(row["phone"] or "")
    if not PHONE.match(phone):
        return None
    return Recipient(
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


def _rights_select(envelope: str) -> str:
    return f"""
        select p.person_id, {envelope} as phone_enc, p.phone, p.name,
               coalesce(sum(r.rows) filter (where r.insurance = %(basic)s), 0) as months,
               coalesce(sum(r.person_amount) filter (where r.insurance = %(basic)s), 0) as person_amount,
               coalesce(sum(r.to_account) filter (where r.insurance = %(basic)s), 0) as to_account,
               coalesce(sum(r.person_amount) filter (where r.insurance = %(annuity)s), 0) as annuity
        {_rights_where(envelope)}
        group by p.person_id
        order by p.person_id
    """


def rights_statement_page(
    q: Conn, year: int, regions: Sequence[str] | None, after: int, limit: int
) -> tuple[list[Recipient], int | None, int]:
    """The next ``limit`` persons after person id ``after`` with a rights statement for ``year`` (and a phone
    where the store keeps it in clear): the recipients among them (a mobile number), the last person id read
    (None: none left) and the persons read. The phone is opened here where the store keeps it sealed."""
    envelope = "p.phone_enc" if _store_sealed(q) else "null::bytea"
    with q.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(
            _rights_select(envelope) + " limit %(limit)s", _rights_params(year, regions, after) | {"limit": limit}
        )
        rows = cur.fetchall()
    if not rows:
        return [], None, 0
    if envelope != "null::bytea":
        from hub.crypto import columns

        columns.reveal(q, "person_overview", rows)
    found = [r for r in (_rights_recipient(row, year) for row in rows) if r is not None]
    return found, int(rows[-1]["person_id"]), len(rows)


def rights_statement_count(q: Conn, year: int, regions: Sequence[str] | None) -> int:
    """The persons ``rights_statement_page`` walks through for ``year`` (the preparation's total)."""
    envelope = "p.phone_enc" if _store_sealed(q) else "null::bytea"
    row = q.execute(
        f"select count(distinct p.person_id) {_rights_where(envelope)}", _rights_params(year, regions, 0)
    ).fetchone()
    return int(row[0]) if row else 0


def rights_statement_recipients(query_url: str, year: int, regions: Sequence[str] | None = None) -> Iterator[Recipient]:
    """Every insured person with a mobile phone and a rights statement for ``year`` (query store); with
    ``regions``, only the persons of those 统筹区 (``rights_statement_page`` after page)."""
    after = 0
    with pg.connect(query_url) as q:
        while True:
            found, last, _ = rights_statement_page(q, year, regions, after, 5000)
            if last is None:
                return
            yield from found
            after = last
            q.commit()


def create_rights_statement(
    conn: Conn,
    *,
    year: int,
    created_by: str,
    recipients: Iterable[Recipient] | None = None,
    regions: Sequence[str] | None = None,
    rate_per_second: float | None = None,
) -> int:
    """The yearly 个人权益记录 broadcast (mandatory 通知类; unknown submits are never resent).

    Without ``recipients`` (the workbench, ``hub sms job rights``) the job is created at once in state
    'preparing' and the sms worker fills it from the query store (``fill``), the persons of ``regions`` (None:
    all); with ``recipients`` they are inserted now and the job is a draft.
    """
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
    if recipients is None:
        conn.execute(
            "update hub.sms_job set status = 'preparing', prepare_year = %s, prepare_regions = %s, "
            "prepare_after = 0, prepared = 0 where id = %s",
            (year, None if regions is None else list(regions), job_id),
        )
    else:
        _insert(conn, job_id, "rights_statement", True, recipients)
    return job_id


@dataclass(frozen=True)
class Filled:
    """One preparation step: the job, the recipients it added, and whether the job is ready now."""

    job_id: int
    added: int
    finished: bool


NO_RECIPIENTS = "{year}年度在所选统筹区没有留有手机号码的参保人员，任务已取消"


def fill(conn: Conn, q: Conn, settings: SmsSettings, batch: int = 2000, *, commit: bool = True) -> Filled | None:
    """Fill the oldest 'preparing' job with its next ``batch`` persons from the query store ``q``, in one
    hub-DB transaction with the job's cursor, counts and estimate, so a crash at any point loses or repeats
    nothing (the unique blind-index key is the backstop). The job becomes a draft after its last batch (or is
    cancelled when nobody qualified). None when no job is preparing. ``commit=False`` leaves the transaction
    open (tests roll it back to play a crash)."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        job = cur.execute(
            "select * from hub.sms_job where status = 'preparing' order by id limit 1 for update skip locked"
        ).fetchone()
    if job is None:
        conn.rollback()
        return None
    job_id = int(job["id"])
    year = int(job["prepare_year"])
    regions = job["prepare_regions"]
    total = job["prepare_total"]
    if total is None:
        total = rights_statement_count(q, year, regions)
    found, last, read = rights_statement_page(q, year, regions, int(job["prepare_after"] or 0), batch)
    q.rollback()
    added: list[tuple[int, Recipient]] = []
    if found:
        added = _insert_chunk(conn, sealed.for_writing(conn), job_id, str(job["template"]), True, found)
    segments = sum(text.segment_count(_text(job, r.personalisation, settings)) for _, r in added)
    finished = last is None or read < batch
    recipients = int(job["recipients"]) + len(added)
    status, note = "preparing", None
    if finished:
        status, note = ("draft", None) if recipients else ("cancelled", NO_RECIPIENTS.format(year=year))
    conn.execute(
        """
        update hub.sms_job set prepare_after = coalesce(%s, prepare_after), prepared = coalesce(prepared, 0) + %s,
            prepare_total = %s, recipients = recipients + %s, segments = segments + %s,
            cost_estimate = cost_estimate + %s, status = %s, prepare_note = %s,
            finished_at = case when %s = 'cancelled' then now() end
        where id = %s
        """,
        (last, read, total, len(added), segments, settings.cost_per_segment * segments, status, note, status, job_id),
    )
    if commit:
        conn.commit()
    return Filled(job_id, len(added), finished)


def _text(job: dict[str, Any], personalisation: dict[str, Any], settings: SmsSettings) -> str:
    """The signed text a message of ``job`` is sent with (as the worker renders it)."""
    values = {str(k): str(v) for k, v in personalisation.items()}
    return text.sign(settings.signature, templates.render(job["template"], values, mandatory=job["mandatory"]))


def preview(conn: Conn, job_id: int, settings: SmsSettings, samples: int = 3) -> Preview:
    """Count, billed segments and cost of the job as it stands; samples with the phone masked."""
    job = _job(conn, job_id)
    if job["status"] == "preparing":
        raise JobError(_PREPARING.format(prepared=job["prepared"] or 0, total=job["prepare_total"] or "…"))
    out = Preview(0, 0, Decimal(0))
    with conn.cursor(name=f"sms_preview_{job_id}") as cur:
        cur.itersize = 5000
        cur.execute(
            "select id, recipient_enc, recipient, personalisation_enc, personalisation from hub.sms_message "
            "where job_id = %s order by id",
            (job_id,),
        )
        while rows := cur.fetchmany(5000):
            # The personalisation of every message is opened (the segments), the number only for the samples.
            keyring = sealed.for_reading(conn, [r[3] for r in rows] + [r[1] for r in rows[:samples]])
            for message_id, r_enc, r_plain, p_enc, p_plain in rows:
                body = _text(job, sealed.open_personalisation(keyring, message_id, p_enc, p_plain), settings)
                n = text.segment_count(body)
                out.recipients += 1
                out.segments += n
                if len(out.samples) < samples:
                    phone = sealed.open_recipient(keyring, message_id, r_enc, r_plain)
                    out.samples.append(f"{mask_phone(phone)}：{body}")
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
        "select id, recipient_enc, recipient, personalisation_enc, personalisation from hub.sms_message "
        "where job_id = %s order by id limit %s",
        (job_id, n),
    ).fetchall()
    keyring = sealed.for_reading(conn, [r[1] for r in rows] + [r[3] for r in rows])
    return [
        f"{mask_phone(sealed.open_recipient(keyring, i, r_enc, r_plain))}："
        f"{_text(job, sealed.open_personalisation(keyring, i, p_enc, p_plain), settings)}"
        for i, r_enc, r_plain, p_enc, p_plain in rows
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
    if job["status"] == "preparing":
        raise JobError(_PREPARING.format(prepared=job["prepared"] or 0, total=job["prepare_total"] or "…"))
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
    _move(conn, job_id, ("preparing", "draft", "approved", "paused"), "cancelled", "发送中的群发任务请先暂停再取消")


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    by_state: dict[str, int]
    prepared: int = 0  # persons read from the query store so far (a job the worker is preparing)
    prepare_total: int | None = None  # persons to read (counted on the first batch)
    prepare_note: str | None = None  # why a preparation ended without recipients

    @property
    def finished(self) -> int:
        return sum(n for s, n in self.by_state.items() if s not in ("created", "queued"))


def progress(conn: Conn, job_id: int) -> Progress:
    job = _job(conn, job_id)
    rows = conn.execute(
        "select status, count(*) from hub.sms_message where job_id = %s group by status", (job_id,)
    ).fetchall()
    by_state = {str(s): int(n) for s, n in rows}
    return Progress(
        str(job["status"]),
        sum(by_state.values()),
        by_state,
        int(job.get("prepared") or 0),
        None if job.get("prepare_total") is None else int(job["prepare_total"]),
        job.get("prepare_note"),
    )

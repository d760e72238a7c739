"""The sms worker (``hub sms run``): the only owner of the transport.

Two threads on two connections. The claimer prepares the next batch while the window is full (reads the
messages, checks limits, opt-outs and the budget, renders and encodes them: nothing is marked yet), and as
soon as the window has room claims it in one round trip (one statement marks the messages 'queued' and
their parts 'submitting', then the commit) before handing the parts to the transport. The recorder applies
what the transport reported (one pipelined transaction per batch) and answers the receipts after the commit.
Codes and notices are prepared before any broadcast. A part is counted in flight from its claim until its
outcome is committed, so a crash leaves at most the window in state 'submitting', which the next worker
marks 'unknown' (``store.recover``) instead of sending again.

Numbers and personalisation are sealed at rest (``hub.messaging.sealed``): the claimer opens a batch's
envelopes when it prepares them and counts the limits, opt-outs and concatenation references by blind index.
With the query store's address, a third thread fills the rights-statement jobs in state 'preparing'
(``jobs.fill``, one batch per transaction) on connections of its own. At start the worker runs the SMS data
step (plaintext left by the previous release is sealed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from hub import pg
from hub.config.sms import SmsSettings
from hub.crypto.sm import SealBroken
from hub.ids import mask_phone
from hub.messaging import sealed, templates
from hub.messaging.outbox import FailureKind
from sms import jobs, limits, store, text
from sms.transport import ConsoleTransport, FileTransport, OutPart, PartKey, Transport

log = logging.getLogger(__name__)

LOCK_KEY = 0x534D53  # 'SMS': one worker per hub database
# With a window this small there is nothing for a recorder thread to overlap: the claiming thread waits for
# the transport's events and records them itself (one thread hand-off less per message).
INLINE_BELOW = 4


def make_transport(settings: SmsSettings, var_dir: Path) -> Transport:
    if settings.transport == "smpp":
        from sms.smpp import SmppTransport

        return SmppTransport(settings.smpp)
    if settings.transport == "console":
        return ConsoleTransport()
    return FileTransport(settings.file_path or var_dir / "sms" / "outbox.jsonl")


@dataclass
class _Prepared:
    """A message read, checked, rendered and encoded, not yet claimed."""

    id: int
    parts: list[OutPart]
    row: tuple[Any, ...]  # (sender, segments, cost, concat ref, id) for the claim statement
    cost: Decimal
    code: tuple[bytes, bytes, str | None] | None = None  # (number, prefix blind indexes, requester IP) of a code


_COLUMNS = (
    "id, recipient_enc, template, personalisation_enc, mandatory, {ip}, {job}, recipient_bidx, recipient_pidx, "
    "recipient, personalisation"
)


@dataclass(frozen=True)
class _Row:
    """A waiting message with its number and personalisation opened."""

    id: int
    recipient: str
    template: str
    personalisation: dict[str, str]
    mandatory: bool
    ip: str | None
    job_id: int | None
    number: bytes  # blind index of the number
    prefix: bytes  # blind index of its prefix


# Marks prepared messages 'queued' and inserts their parts as 'submitting', in one statement: only those still
# 'created' (and, for a job, while it runs), so a message cancelled or paused since it was prepared is skipped.
_CLAIM = """
with q as (
    select * from unnest(%s::text[], %s::int[], %s::numeric[], %s::int[], %s::bigint[])
        as q(sender, segments, cost, ref, id)
),
upd as (
    update hub.sms_message m set status = 'queued', sender = q.sender, segments = q.segments,
        cost = q.cost, concat_ref = q.ref, queued_at = now(), updated_at = now()
    from q
    where m.id = q.id and m.status = 'created'
      and (m.job_id is null or exists (select 1 from hub.sms_job j where j.id = m.job_id and j.status = 'running'))
    returning m.id, m.segments
),
ins as (
    insert into hub.sms_segment (message_id, seq)
    select upd.id, g from upd cross join lateral generate_series(1, upd.segments) g
)
select id from upd
"""


# The recorder's statements join a batch (unnest of ids) to hub.sms_segment and hub.sms_message by key. psycopg
# prepares them after five runs, and PostgreSQL keeps the generic plan made then until the table's statistics
# change: planned while the segment table was small (a broadcast's start, no statistics yet) it is a hash join over
# a sequential scan, and every batch then reads the whole, growing table (seen on the benchmark: the receipt and
# accept updates scanning every segment until the next analyze). Every statement of the recorder is an index
# lookup by design, so its session rules out the plans that are never right here.
_RECORDER_PLANS = "set enable_seqscan = off; set enable_mergejoin = off"


@dataclass
class Stats:
    claimed_messages: int = 0
    claimed_parts: int = 0
    settled_parts: int = 0
    receipts: int = 0
    duplicate_receipts: int = 0
    orphan_receipts: int = 0
    refused: int = 0
    recovered_unknown: int = 0
    resent_unknown: int = 0
    budget_stopped: bool = False
    started: float = field(default_factory=time.monotonic)


class Worker:
    def __init__(
        self,
        hub_db_url: str,
        transport: Transport,
        settings: SmsSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        query_db_url: str | None = None,
    ) -> None:
        self.url = hub_db_url
        self.query_url = query_db_url  # where rights-statement jobs are prepared from (None: no preparing)
        self._preparer: threading.Thread | None = None
        self._preparer_stop = threading.Event()
        self.transport = transport
        self.settings = settings
        self.clock = clock
        self.stats = Stats()
        self.in_flight: set[PartKey] = set()
        self._conn: psycopg.Connection[Any] | None = None
        self._rconn: psycopg.Connection[Any] | None = None  # the recorder's: outcomes and receipts
        self._flight = threading.Condition()  # guards ``in_flight`` between the claimer and the recorder
        self._recorder: threading.Thread | None = None
        self._recorder_stop = threading.Event()
        self._recorder_error: BaseException | None = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._spent = Decimal(0)
        self._spent_day: datetime | None = None
        self._job_tokens: dict[int, tuple[float, float]] = {}
        # Per job, the highest message id read so far: the next read starts after it instead of walking the
        # job's queue index past every message already taken (dead entries until a vacuum). Cleared whenever a
        # message of a job may be 'created' again below it (a resend, a prepared message not claimed).
        self._job_cursor: dict[int, int] = {}
        self._last_job_check = 0.0
        self._resend_jobs = False  # a running job resends unknown messages
        self._orphans_open = True  # early receipts may wait in hub.sms_receipt_orphan
        self._prefixes = limits.PrefixWindow()
        self._prepared: list[_Prepared] = []

    @property
    def conn(self) -> psycopg.Connection[Any]:
        assert self._conn is not None
        return self._conn

    # lifecycle -------------------------------------------------------------------------------------
    def open(self, lock_timeout: float = 60.0) -> None:
        """Take the single-worker lock, mark what the last worker left in flight unknown, start the transport."""
        self._lock_conn = pg.connect(self.url, autocommit=True, application_name="hub-sms-lock")
        deadline = time.monotonic() + lock_timeout
        while True:
            got = self._lock_conn.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            if got and got[0]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("another sms worker holds the lock")
            time.sleep(0.2)
        self._conn = pg.connect(self.url, application_name="hub-sms")
        self._rconn = pg.connect(self.url, application_name="hub-sms-record")
        self._rconn.execute(_RECORDER_PLANS)
        self._rconn.commit()
        sealed_now = sealed.seal_now(self.conn)  # plaintext left by the previous release (the data step)
        if sealed_now:
            log.warning("sealed %d SMS values kept in plaintext by an earlier release", sealed_now)
        segments, messages = store.recover(self.conn)
        self.conn.commit()
        self.stats.recovered_unknown = messages
        if segments:
            log.warning("recovery: %d parts of %d messages were in flight at a crash; now unknown", segments, messages)
        self._apply_unknown_policies()
        self.transport.start()
        self._recorder_stop.clear()
        if self.transport.capacity >= INLINE_BELOW:
            self._recorder = threading.Thread(target=self._record_loop, name="sms-recorder", daemon=True)
            self._recorder.start()
        if self.query_url is not None:
            self._preparer_stop.clear()
            self._preparer = threading.Thread(target=self._prepare_loop, name="sms-preparer", daemon=True)
            self._preparer.start()

    def close(self) -> None:
        """Stop the transport (clean unbind) and record what it reported while draining."""
        self._preparer_stop.set()
        if self._preparer is not None:
            self._preparer.join(60)
            self._preparer = None
        self.transport.close()
        self._recorder_stop.set()
        if self._recorder is not None:
            self._recorder.join(30)
            self._recorder = None
        if self._conn is not None and not self._conn.closed:
            self._conn.rollback()  # after an error mid-loop the transaction may be aborted
            self._conn.close()
        if self._rconn is not None and not self._rconn.closed:
            self._rconn.rollback()
            self._pump(0.05)
            deadline = time.monotonic() + 5
            while self.in_flight and time.monotonic() < deadline:
                self._pump(0.1)
            self._rconn.close()
        if self._lock_conn is not None:
            self._lock_conn.close()

    def run(self, stop: threading.Event, until: Callable[[], bool] | None = None) -> None:
        self.open()
        try:
            while not stop.is_set() and not (until and until()):
                self.step()
        finally:
            self.close()

    def step(self) -> None:
        """Prepare the next batch, wait for room in the window, claim and hand over; the recorder thread
        records outcomes on its own connection meanwhile, so the window is refilled as it drains."""
        if self._recorder_error is not None:
            raise RuntimeError("the sms recorder failed") from self._recorder_error
        # Claim in batches (a quarter of the window or more), not one part per round trip to PostgreSQL.
        batch = max(1, self.transport.capacity // 4)
        if sum(len(p.parts) for p in self._prepared) < batch:
            self._prepared += self._prepare(self.transport.capacity, {p.id for p in self._prepared})
        if self._prepared:
            # Wait for room for a batch, or for the next message when less than a batch is waiting.
            need = min(batch, len(self._prepared[0].parts))
            if self._recorder is None:  # inline: wait for the outcomes here and record them
                self._pump(self.settings.poll_seconds if self._room() < need and self.in_flight else 0)
            with self._flight:
                if self._room() < need and self.in_flight and self._recorder is not None:
                    self._flight.wait(self.settings.poll_seconds)
                room = self._room()
                idle = not self.in_flight
            if room >= need or (room > 0 and idle):
                claimed = self._claim(room)
                if claimed:
                    self.transport.submit(claimed)
        elif self._recorder is None:
            self._pump(self.settings.poll_seconds)
        else:
            with self._flight:
                self._flight.wait(self.settings.poll_seconds)
        now = time.monotonic()
        if now - self._last_job_check > 1.0:
            self._last_job_check = now
            self._finish_jobs()

    def _room(self) -> int:
        return self.transport.capacity - len(self.in_flight)

    # preparing jobs --------------------------------------------------------------------------------
    def _prepare_loop(self) -> None:
        """Fill the jobs in state 'preparing' from the query store, a batch per transaction (``jobs.fill``), on
        connections of its own so codes and notices keep flowing meanwhile. A failure is logged and retried."""
        assert self.query_url is not None
        conn: psycopg.Connection[Any] | None = None
        q: psycopg.Connection[Any] | None = None
        while not self._preparer_stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = pg.connect(self.url, application_name="hub-sms-prepare")
                if q is None or q.closed:
                    q = pg.connect(self.query_url, application_name="hub-sms-prepare")
                filled = jobs.fill(conn, q, self.settings, self.settings.prepare_batch)
            except Exception:  # the next round tries again (a lost connection is opened anew)
                log.exception("preparing a broadcast job failed; retrying")
                for c in (conn, q):
                    if c is not None and not c.closed:
                        c.close()
                conn = q = None
                self._preparer_stop.wait(5.0)
                continue
            if filled is None:
                self._preparer_stop.wait(1.0)
            elif filled.finished:
                log.info("broadcast job %d is prepared", filled.job_id)
        for c in (conn, q):
            if c is not None and not c.closed:
                c.close()

    # events ----------------------------------------------------------------------------------------
    def _record_loop(self) -> None:
        try:
            while not self._recorder_stop.is_set():
                self._pump(self.settings.poll_seconds)
        except BaseException as exc:  # surfaced by the next step()
            log.exception("sms recorder failed")
            self._recorder_error = exc

    def _pump(self, timeout: float) -> None:
        events = self.transport.events(timeout)
        if not events:
            return
        rconn = self._rconn
        assert rconn is not None
        # One pipeline: the statements and the commit travel together; receipts are answered after the commit.
        with rconn.pipeline():
            applied = store.apply(rconn, events, match_orphans=self._orphans_open)
            rconn.commit()
        self.transport.confirm(events)
        if applied.orphan_receipts:
            self._orphans_open = True
        with self._flight:
            for key in applied.settled:
                self.in_flight.discard(key)
            self._flight.notify_all()
        self.stats.settled_parts += len(applied.settled)
        self.stats.receipts += applied.receipts
        self.stats.duplicate_receipts += applied.duplicate_receipts
        self.stats.orphan_receipts += applied.orphan_receipts

    # claiming --------------------------------------------------------------------------------------
    def _claim(self, room: int) -> list[OutPart]:
        """Claim prepared messages for at most ``room`` parts (the first one always): one round trip."""
        take: list[_Prepared] = []
        used = 0
        for p in self._prepared:
            if take and used + len(p.parts) > room:
                break
            take.append(p)
            used += len(p.parts)
        del self._prepared[: len(take)]
        # In a pipeline the statement and the commit go to PostgreSQL together.
        with self.conn.pipeline():
            cur = self.conn.execute(_CLAIM, [list(column) for column in zip(*(p.row for p in take), strict=True)])
            self.conn.commit()
        claimed_ids = {int(r[0]) for r in cur.fetchall()}
        parts: list[OutPart] = []
        for p in take:
            if p.id in claimed_ids:
                parts += p.parts
            else:
                self._spent -= p.cost  # changed since it was prepared (cancelled, paused, sent by a resend)
                self._job_cursor.clear()  # a paused job's message is read again when the job runs again
        with self._flight:
            self.in_flight.update(part.key for part in parts)
        self.stats.claimed_messages += len(claimed_ids)
        self.stats.claimed_parts += len(parts)
        return parts

    def _prepare(self, room: int, skip: set[int]) -> list[_Prepared]:
        """Read up to ``room`` parts' worth of waiting messages (not those in ``skip``), refuse what the limits,
        opt-outs or the budget forbid (committed here), render and encode the rest; nothing is claimed yet."""
        now = self.clock()
        if not self._budget_left(now):
            self.conn.commit()
            return []
        skip_ids = list(skip)
        raw = self.conn.execute(
            f"select {_COLUMNS.format(ip='host(requester_ip)', job='null::bigint')} "
            "from hub.sms_message where status = 'created' and job_id is null and id <> all(%s) "
            "order by priority, id limit %s",
            (skip_ids, room),
        ).fetchall()
        if len(raw) < room and limits.in_window(
            now, self.settings.window_start, self.settings.window_end, self.settings.timezone
        ):
            raw += self._claim_jobs(room - len(raw))
        rows = self._open(raw)
        out: list[_Prepared] = []
        check = limits.LimitCheck(self.settings.limits, now, prefixes=self._prefixes)
        # Abuse limits guard what a caller can trigger: verification codes (notices are system-made).
        singles = [r for r in rows if r.job_id is None and _is_code(r.template)]
        check.load(
            self.conn,
            [r.number for r in singles],
            [r.prefix for r in singles],
            [r.ip for r in singles if r.ip is not None],
            [r.id for r in singles],
        )
        for waiting in self._prepared:  # codes passed earlier, not claimed yet: not attempted in the database
            if waiting.code is not None:
                check.note(*waiting.code)
        opted_out = self._opted_out([r.number for r in rows if not r.mandatory])
        signature = self.settings.signature
        source = self.settings.source_addr
        delivery = self.settings.registered_delivery
        parts_count = 0
        chosen: list[tuple[_Row, str, list[str], Decimal, tuple[bytes, bytes, str | None] | None]] = []
        for row in rows:
            mid, recipient, template, mandatory, ip, job_id = (
                row.id,
                row.recipient,
                row.template,
                row.mandatory,
                row.ip,
                row.job_id,
            )
            if parts_count >= room:
                break
            refusal = None
            if not mandatory and row.number in opted_out:
                refusal = "opted_out"
            elif job_id is None and _is_code(template):
                refusal = check.refused(row.number, row.prefix, ip)
            if refusal is not None:
                self._refuse(mid, recipient, refusal)
                self._advance(job_id, mid)
                continue
            try:
                body = text.sign(signature, templates.render(template, row.personalisation, mandatory=mandatory))
                pieces = text.split(body)
            except (templates.TemplateError, text.TextTooLong) as exc:
                store.fail_message(self.conn, mid, FailureKind.PERMANENT, str(exc))
                self._advance(job_id, mid)
                continue
            if chosen and parts_count + len(pieces) > room:
                break
            cost = self.settings.cost_per_segment * len(pieces)
            if self._spent + cost > self.settings.limits.daily_budget_yuan:
                self._stop_for_budget()
                break
            self._spent += cost
            parts_count += len(pieces)
            code = (row.number, row.prefix, ip) if job_id is None and _is_code(template) else None
            chosen.append((row, body, pieces, cost, code))
            self._advance(job_id, mid)
            if job_id is None and not _is_code(template):
                self._prefixes.add(row.prefix, now)  # codes were counted by ``check.refused``
        # One statement for the concatenation references of the batch's long messages.
        refs = iter(self._next_refs([row.number for row, _, pieces, _, _ in chosen if len(pieces) > 1]))
        for row, body, pieces, cost, code in chosen:
            ref = next(refs) if len(pieces) > 1 else None
            parts = [
                OutPart(
                    key=(row.id, seq),
                    destination=row.recipient,
                    source=source,
                    short_message=wire.short_message,
                    esm_class=wire.esm_class,
                    data_coding=text.DATA_CODING_UCS2,
                    registered_delivery=delivery,
                    parts=len(pieces),
                    body=body,
                )
                for seq, wire in enumerate(text.encode(pieces, ref or 0), start=1)
            ]
            out.append(_Prepared(row.id, parts, (signature, len(pieces), cost, ref, row.id), cost, code))
        self.conn.commit()  # refusals, failures, concatenation references; ends the read
        return out

    def _claim_jobs(self, room: int) -> list[tuple[Any, ...]]:
        jobs = self.conn.execute(
            "select id, rate_per_second, unknown_policy from hub.sms_job where status = 'running' order by id"
        ).fetchall()
        self._resend_jobs = any(policy == "resend" for _, _, policy in jobs)
        out: list[tuple[Any, ...]] = []
        for job_id, rate, _ in jobs:
            take = room - len(out)
            if take <= 0:
                break
            if rate:
                take = min(take, self._job_allowance(int(job_id), float(rate)))
            if take <= 0:
                continue
            rows = self.conn.execute(
                f"select {_COLUMNS.format(ip='null::text', job='job_id')} "
                "from hub.sms_message where job_id = %s and status = 'created' and id > %s "
                "order by id limit %s",
                (job_id, self._job_cursor.get(int(job_id), 0), take),
            ).fetchall()
            if rate:
                self._spend_job_tokens(int(job_id), len(rows))
            out += rows
        return out

    def _advance(self, job_id: int | None, message_id: int) -> None:
        """The job's messages up to ``message_id`` are taken care of (prepared, refused or failed)."""
        if job_id is not None:
            self._job_cursor[int(job_id)] = int(message_id)

    def _job_allowance(self, job_id: int, rate: float) -> int:
        tokens, at = self._job_tokens.get(job_id, (min(rate, 1.0), time.monotonic()))
        now = time.monotonic()
        tokens = min(max(rate, 1.0), tokens + (now - at) * rate)
        self._job_tokens[job_id] = (tokens, now)
        return int(tokens)

    def _spend_job_tokens(self, job_id: int, n: int) -> None:
        tokens, at = self._job_tokens[job_id]
        self._job_tokens[job_id] = (tokens - n, at)

    def _open(self, raw: list[tuple[Any, ...]]) -> list[_Row]:
        """The waiting messages with their envelopes opened, a batch at a time (one keyring lookup). A message
        whose envelope does not open (copied from another row, changed, its key gone) fails, permanently."""
        if not raw:
            return []
        keyring = sealed.for_reading(self.conn, [r[1] for r in raw] + [r[3] for r in raw])
        out: list[_Row] = []
        for mid, r_enc, template, p_enc, mandatory, ip, job_id, number_index, prefix_index, r_plain, p_plain in raw:
            try:
                recipient = sealed.open_recipient(keyring, int(mid), r_enc, r_plain)
                personalisation = sealed.open_personalisation(keyring, int(mid), p_enc, p_plain)
            except SealBroken:
                log.error("message %d: its sealed recipient or personalisation does not open", mid)
                store.fail_message(self.conn, int(mid), FailureKind.PERMANENT, "sealed value does not open")
                self._advance(job_id, int(mid))
                continue
            number, prefix = number_index, prefix_index
            if number is None or prefix is None:  # written by the previous release, not sealed yet
                writing = sealed.for_writing(self.conn)
                number, prefix = sealed.number_index(writing, recipient), sealed.prefix_index(writing, recipient)
            out.append(
                _Row(
                    int(mid),
                    recipient,
                    str(template),
                    personalisation,
                    bool(mandatory),
                    None if ip is None else str(ip),
                    None if job_id is None else int(job_id),
                    bytes(number),
                    bytes(prefix),
                )
            )
        return out

    def _opted_out(self, numbers: list[bytes]) -> set[bytes]:
        if not numbers:
            return set()
        rows = self.conn.execute(
            "select recipient_bidx from hub.sms_opt_out_bidx where recipient_bidx = any(%s::bytea[])", (numbers,)
        ).fetchall()
        return {bytes(r[0]) for r in rows}

    def _refuse(self, message_id: int, recipient: str, reason: str) -> None:
        self.stats.refused += 1
        log.info("message %d to %s refused: %s", message_id, mask_phone(recipient), reason)
        store.fail_message(self.conn, message_id, FailureKind.PERMANENT, reason)

    def _next_refs(self, numbers: list[bytes]) -> list[int]:
        """Per-destination concatenation references, one per entry of ``numbers`` (blind indexes of the numbers,
        a number may repeat): two long messages in flight to one phone differ. The counter of each number runs
        1..255 and wraps; the batch takes ``k`` consecutive values of a number in one upsert."""
        if not numbers:
            return []
        counts: dict[bytes, int] = {}
        for number in numbers:
            counts[number] = counts.get(number, 0) + 1
        distinct = list(counts)
        # New counter: the batch's k values are 1..k, so it ends at k. Existing one at v: v%255+1 … ends at
        # (v+k-1)%255+1. k <= 255 always (a batch holds at most a window of parts, two or more per long message).
        rows = self.conn.execute(
            "insert into hub.sms_concat_ref_bidx (recipient_bidx, last_ref) "
            "select * from unnest(%s::bytea[], %s::smallint[]) "
            "on conflict (recipient_bidx) do update "
            "set last_ref = (hub.sms_concat_ref_bidx.last_ref + excluded.last_ref - 1) %% 255 + 1 "
            "returning recipient_bidx, last_ref",
            (distinct, [min(counts[n], 255) for n in distinct]),
        ).fetchall()
        last = {bytes(r[0]): int(r[1]) for r in rows}
        taken: dict[bytes, int] = {}
        out: list[int] = []
        for number in numbers:
            i = taken.get(number, 0)
            taken[number] = i + 1
            out.append((last[number] - counts[number] + i) % 255 + 1)  # the i-th of the k values ending at last
        return out

    # budget ----------------------------------------------------------------------------------------
    def _budget_left(self, now: datetime) -> bool:
        day = limits.local_day_start(now, self.settings.timezone)
        if day != self._spent_day:
            row = self.conn.execute(
                "select coalesce(sum(cost), 0) from hub.sms_message where queued_at >= %s", (day,)
            ).fetchone()
            self._spent = Decimal(row[0]) if row else Decimal(0)
            self._spent_day = day
            self.stats.budget_stopped = False
        if self._spent + self.settings.cost_per_segment > self.settings.limits.daily_budget_yuan:
            self._stop_for_budget()
            return False
        return True

    def _stop_for_budget(self) -> None:
        if not self.stats.budget_stopped:
            self.stats.budget_stopped = True
            log.error(
                "ALERT: the daily SMS budget of %s yuan is spent; sending stopped",
                self.settings.limits.daily_budget_yuan,
            )
            store.record_event(
                self.conn,
                "budget_spent",
                {"budget": str(self.settings.limits.daily_budget_yuan), "spent": str(self._spent)},
            )

    # jobs ------------------------------------------------------------------------------------------
    def _apply_unknown_policies(self) -> None:
        """Jobs with the policy 'resend' send their unknown messages again (counted); 'hold' keeps them.

        Runs at start (what the last worker left in flight) and, while such a job runs, every second during
        the run (submits that timed out or were in the window when a connection dropped). A message with a
        part still in the window is left for a later round.
        """
        with self._flight:
            busy = sorted({key[0] for key in self.in_flight})
        rows = self.conn.execute(
            """
            update hub.sms_message m set status = 'created', queued_at = null, updated_at = now()
            from hub.sms_job j
            where m.job_id = j.id and j.unknown_policy = 'resend' and j.status in ('approved', 'running', 'paused')
              and m.status = 'unknown' and m.id <> all(%s)
            returning m.id
            """,
            (busy,),
        ).fetchall()
        if rows:
            ids = [int(r[0]) for r in rows]
            self.conn.execute("delete from hub.sms_segment where message_id = any(%s)", (ids,))
            store.record_event(self.conn, "resend_unknown", {"messages": len(ids)})
            self._job_cursor.clear()
            self.stats.resent_unknown += len(ids)
            log.warning("%d messages whose submit has an unknown outcome are sent again (job policy)", len(ids))
        self.conn.commit()

    def _finish_jobs(self) -> None:
        if self._resend_jobs:
            self._apply_unknown_policies()
        row = self.conn.execute(
            "select exists (select 1 from hub.sms_receipt_orphan where matched_at is null)"
        ).fetchone()
        self._orphans_open = bool(row and row[0])
        self.conn.execute(
            """
            update hub.sms_job j set status = 'done', finished_at = now()
            where j.status = 'running'
              -- 'created' first, on the job's queue index: while any is left the second check never runs;
              -- 'queued' on sms_message_queued
              and not exists (select 1 from hub.sms_message m where m.job_id = j.id and m.status = 'created')
              and not exists (select 1 from hub.sms_message m where m.job_id = j.id and m.status = 'queued')
            """
        )
        self.conn.commit()


def _is_code(template: str) -> bool:
    found = templates.TEMPLATES.get(template)
    return found is not None and found.verification

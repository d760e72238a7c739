"""The command outbox: approved declarations sent to the core's command API, results recorded.

An approval writes the command (with a fresh command id) in the approving transaction. The worker
claims due commands with a lease (``for update skip locked``), marks their declarations ``sent``, posts
each to the core and records the answer: ``applied`` (with the core position of the change and a 办结
notice queued for the unit contact in the same transaction) or ``failed`` with the core's reason. A
transport failure or a 5xx is retried with doubling delays (never given up: the core may have applied
it, and only its answer may end the command). A worker killed after the core applied a command but
before it recorded the answer leaves the command ``sending``; once the lease has passed another worker
sends it again, and the core, idempotent by command id, answers the recorded outcome without applying
it again. Recording is guarded by the ``sending`` state, so two workers that both got the answer
record it once.

A worker may be given an after-apply step (``after_applied``: work that follows an applied command in the
hub, e.g. ``hub.collect.service.OpeningDelivery``). It runs in a transaction of its own after a round that
recorded an applied command, when the worker starts, and at least once a lease period: it must pick up
every applied declaration it has not handled yet, so one that a crash left between the recorded apply and
the step is handled by the restarted worker (or, when the killed worker's database session still held it
for a while, by the next periodic run), and record what it handled in its own transaction, so it is handled
once. A failing step is logged and tried again after the next round; it never holds up the commands.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from hub import outbox_retry as retry
from hub import pg
from hub.crypto import columns as sealed
from hub.crypto import payloads
from hub.declarations import attachments, records
from hub.declarations.config import DeclarationSettings
from hub.declarations.service import SYSTEM, transition
from hub.declarations.states import Action, Status
from hub.messaging import outbox as sms
from hub.outbox_retry import Refused, Reply, TransportError, run_rounds, send_or_retry

log = logging.getLogger(__name__)


# (hub connection, now) → how many declarations it handled; never commits.
AfterApplied = Callable[[psycopg.Connection[Any], datetime], int]


class CoreClient:
    """POSTs commands to ``{base_url}/esb/commands`` (JSON over HTTP; stdlib only)."""

    def __init__(self, base_url: str, timeout: float, token: str = "") -> None:
        self.url = base_url.rstrip("/") + "/esb/commands"
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json; charset=utf-8"}
        if token:
            self.headers["X-ESB-Token"] = token

    def send(self, command: dict[str, Any]) -> Reply:
        body = json.dumps(command, ensure_ascii=False).encode()
        request = urllib.request.Request(  # noqa: S310 (the configured core API URL, http or https)
            self.url, data=body, method="POST", headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in (408, 429):
                raise TransportError(f"HTTP {exc.code}") from None
            raise Refused(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as exc:
            raise TransportError(type(exc).__name__) from None
        if data.get("status") not in ("applied", "failed"):
            raise TransportError("unexpected answer")
        return Reply(
            data["status"],
            data.get("reason"),
            data.get("result") or {},
            data.get("position"),
            bool(data.get("replayed")),
        )


@dataclass(frozen=True)
class Claimed:
    command_id: uuid.UUID
    declaration_id: int
    type: str
    unit_id: int
    business_date: date
    payload: dict[str, Any]
    attempts: int
    reference: str

    def body(self) -> dict[str, Any]:
        return {
            "command_id": str(self.command_id),
            "type": self.type,
            "unit_id": self.unit_id,
            "business_date": self.business_date.isoformat(),
            "payload": self.payload,
            "reference": self.reference,
        }


# A unit's commands reach the core in approval order: a command is due only when no earlier command of
# the same unit is still pending or being sent (a retried 增员 is never overtaken by the 减员 after it).
CLAIM = """
with due as (
    select c.command_id from hub.declaration_command c
    where ((c.status = 'pending' and c.next_attempt_at <= now()) or (c.status = 'sending' and c.lease_until < now()))
      and not exists (
        select 1 from hub.declaration_command e
        where e.unit_id = c.unit_id and e.status in ('pending', 'sending')
          and (e.created_at, e.declaration_id) < (c.created_at, c.declaration_id)
      )
    order by c.next_attempt_at limit %(n)s for update of c skip locked
)
update hub.declaration_command c set status = 'sending', attempts = c.attempts + 1,
    lease_until = now() + make_interval(secs => %(lease)s)
from due, hub.declaration d
where c.command_id = due.command_id and d.id = c.declaration_id
returning c.command_id, c.declaration_id, c.type, c.unit_id, c.business_date, c.payload_enc, c.payload, c.attempts,
    d.reference
"""


class OutboxWorker:
    def __init__(
        self,
        hub_url: str,
        query_url: str,
        settings: DeclarationSettings,
        *,
        client: CoreClient | None = None,
        after_applied: AfterApplied | None = None,
    ) -> None:
        self.hub_url = hub_url
        self.query_url = query_url
        self.settings = settings
        self.client = client or CoreClient(
            settings.core_api_url, settings.request_timeout_seconds, settings.core_api_token
        )
        self._hub: psycopg.Connection[Any] | None = None
        self._query: psycopg.Connection[Any] | None = None
        self.after_applied = after_applied
        self._after_due = after_applied is not None  # on start: what a crash may have left undone
        self._after_next = 0.0  # monotonic time of the next periodic run

    @property
    def hub(self) -> psycopg.Connection[Any]:
        if self._hub is None or self._hub.closed:
            self._hub = pg.connect(self.hub_url, application_name="hub-declarations")
        return self._hub

    @property
    def query(self) -> psycopg.Connection[Any]:
        if self._query is None or self._query.closed:
            self._query = pg.connect(self.query_url, autocommit=True, application_name="hub-declarations")
        return self._query

    def close(self) -> None:
        for conn in (self._hub, self._query):
            if conn is not None and not conn.closed:
                conn.close()
        self._hub = self._query = None

    # one round -------------------------------------------------------------------------------------
    def claim(self) -> list[Claimed]:
        conn = self.hub
        with conn.transaction():  # committed, or rolled back on any exception
            rows = conn.execute(CLAIM, {"n": self.settings.batch, "lease": self.settings.lease_seconds}).fetchall()
            # The command's payload is opened here, where the call to the core is built (the old plaintext
            # column only for a command the data step has not sealed yet).
            claimed = [
                Claimed(r[0], r[1], r[2], r[3], r[4], payloads.opened(conn, payloads.COMMAND, r[0], r[5], r[6]), *r[7:])
                for r in rows
            ]
            at = datetime.now(UTC)
            for c in claimed:
                decl = records.fetch(conn, c.declaration_id, lock=True)
                if decl is not None and decl.status is Status.APPROVED:
                    transition(conn, decl, Action.SEND, SYSTEM, at=at)
        return claimed

    def step(self) -> int:
        """Claim due commands, send each, record each answer; returns how many were claimed."""
        claimed = self.claim()
        for c in claimed:
            self.process(c)
        self._run_after_applied()
        return len(claimed)

    def _run_after_applied(self) -> None:
        if self.after_applied is None:
            return
        if not self._after_due and time.monotonic() < self._after_next:
            return
        conn = self.hub
        try:
            handled = self.after_applied(conn, datetime.now(UTC))
            conn.commit()
        except Exception as exc:  # the core database away, a bug: the commands go on; retried next round
            conn.rollback()
            log.error("after-apply step failed: %s", type(exc).__name__)
            return
        except BaseException:
            conn.rollback()
            raise
        self._after_due = False
        self._after_next = time.monotonic() + self.settings.lease_seconds
        if handled:
            log.info("after-apply step: %d declarations handled", handled)

    def _body(self, c: Claimed) -> dict[str, Any]:
        """The command as sent, with the declaration's supporting documents inline when it has any (they
        are fixed once a reviewer holds it, so every retry sends the same; ``hub.declarations.attachments``)."""
        body = c.body()
        with self.hub.transaction():
            files = attachments.for_command(self.hub, c.declaration_id)
        if files:
            body["attachments"] = files
        return body

    def process(self, c: Claimed) -> None:
        reply = send_or_retry(
            lambda: self.client.send(self._body(c)),
            settings=self.settings,
            attempts=c.attempts,
            retry_later=lambda delay, error: self._retry_later(c, delay, error),
            what=f"command {c.command_id}",
            refused_reason="核心系统拒绝了该指令，请联系经办机构",
        )
        if reply is not None:
            self.record(c.command_id, reply)

    def _retry_later(self, c: Claimed, delay: float, error: str) -> None:
        conn = self.hub
        with conn.transaction():
            # Only if no other worker has claimed it since (its attempt count would be higher).
            conn.execute(
                "update hub.declaration_command set status = 'pending', lease_until = null, last_error = %s, "
                "next_attempt_at = now() + make_interval(secs => %s) "
                "where command_id = %s and status = 'sending' and attempts = %s",
                (error[:200], delay, c.command_id, c.attempts),
            )

    def record(self, command_id: uuid.UUID, reply: Reply) -> bool:
        """Record the core's answer once; False when another worker already recorded it."""
        conn = self.hub
        applied = reply.status == "applied"
        try:
            row = conn.execute(
                "update hub.declaration_command set status = %s, finished_at = now(), lease_until = null, "
                "last_error = %s where command_id = %s and status = 'sending' returning declaration_id",
                ("applied" if applied else "failed", None if applied else reply.reason, command_id),
            ).fetchone()
            if row is None:
                conn.rollback()
                return False
            decl = records.fetch(conn, int(row[0]), lock=True)
            assert decl is not None
            at = datetime.now(UTC)
            decl = transition(
                conn,
                decl,
                Action.APPLY if applied else Action.FAIL,
                SYSTEM,
                at=at,
                why=None if applied else (reply.reason or "核心系统办理失败"),
                finished_at=at,
                core_position=reply.position,
                core_result=Jsonb(reply.result),
            )
            if applied:
                self._notify(conn, decl)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        log.info("command %s recorded: %s", command_id, reply.status)
        if applied:
            self._after_due = self.after_applied is not None
        return True

    def _notify(self, conn: psycopg.Connection[Any], decl: records.Declaration) -> None:
        """办结通知 to the unit contact on record (query store), in the recording transaction."""
        found = self.query.execute(
            "select unit_id, contact_phone_enc from unit_overview where unit_id = %s", (decl.unit_id,)
        ).fetchall()
        opened = sealed.open_column(self.query, sealed.UNIT_CONTACT_PHONE, found, key_at=0, value_at=1)
        row = (opened[0][1],) if opened else None
        if row is None or not row[0]:
            log.warning("declaration %s applied; unit has no contact phone on record", decl.id)
            return
        sms.enqueue(
            conn,
            to=str(row[0]),
            template="declaration_done",
            personalisation={"business": decl.type.label, "reference": decl.reference, "result": "已生效"},
            priority=sms.Priority.NOTICE,
            purpose="declaration_done",
            reference=decl.reference,
        )

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set; a database or network fault is logged and retried."""
        run_rounds(self.step, self.close, stop, self.settings, "declaration outbox worker")


def status(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Commands per state, the oldest pending one and the most retried open one."""
    counts = dict(conn.execute("select status, count(*) from hub.declaration_command group by status").fetchall())
    row = conn.execute(
        "select min(created_at), max(attempts) from hub.declaration_command where status in ('pending', 'sending')"
    ).fetchone()
    oldest, attempts = row if row else (None, None)
    return {
        "counts": {k: int(v) for k, v in counts.items()},
        "oldest_open": oldest.isoformat() if oldest else None,
        "max_attempts_open": int(attempts or 0),
    }


def wait_idle(worker: OutboxWorker, timeout: float = 10.0) -> None:
    """Run rounds until nothing is due (tests and the demo)."""
    retry.wait_idle(worker.step, timeout)

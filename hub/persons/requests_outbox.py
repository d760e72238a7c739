"""The person requests' outbox: submitted requests sent to the core's command API, answers recorded.

It uses the declaration outbox's client (``hub.declarations.outbox``: the same command API, idempotent by
command id, the same settings ``HUB_DECLARATIONS__…``) and their shared retry policy (``hub.outbox_retry``)
and runs beside it in ``hub declarations run``. A claim marks the request ``sent`` with a lease; a
transport failure or a 5xx is retried with doubling delays and never given up (only the core's answer
ends a request); a request whose worker died after the core applied it is claimed again once the lease
has passed, and the core answers the recorded outcome. Recording is guarded by the ``sent`` state, so it
happens once. When the core applied a new mobile number, the person's login phone follows in the
recording transaction.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub import outbox_retry as retry
from hub import pg
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import CoreClient
from hub.identity import accounts
from hub.persons import requests_repo as repo
from hub.persons.requests import CORE_TYPES, PHONE_TYPES, SYSTEM, RequestType, Status, record_transition

log = logging.getLogger(__name__)

NO_UNIT = 0  # the command API's unit id of a person-originated command


def body(due: repo.Due) -> dict[str, Any]:
    """The command for the core: the person in the payload, the request's day as the 经办日期."""
    kind = RequestType(due.type)
    payload: dict[str, Any] = {"person_id": due.person_id}
    if kind in PHONE_TYPES:
        payload["phone"] = due.payload["phone"]
        for optional in ("address", "postal_code"):  # 联系方式变更 only, when the person gave them
            if optional in due.payload:
                payload[optional] = due.payload[optional]
    return {
        "command_id": str(due.command_id),
        "type": CORE_TYPES[kind],
        "unit_id": NO_UNIT,
        "business_date": due.business_date.isoformat(),
        "payload": payload,
        "reference": due.reference,
    }


class PersonOutbox:
    def __init__(self, hub_url: str, settings: DeclarationSettings, *, client: CoreClient | None = None) -> None:
        self.hub_url = hub_url
        self.settings = settings
        self.client = client or CoreClient(
            settings.core_api_url, settings.request_timeout_seconds, settings.core_api_token
        )
        self._hub: psycopg.Connection[Any] | None = None

    @property
    def hub(self) -> psycopg.Connection[Any]:
        if self._hub is None or self._hub.closed:
            self._hub = pg.connect(self.hub_url, application_name="hub-person-requests")
        return self._hub

    def close(self) -> None:
        if self._hub is not None and not self._hub.closed:
            self._hub.close()
        self._hub = None

    def claim(self) -> list[repo.Due]:
        conn = self.hub
        with conn.transaction():  # committed, or rolled back on any exception
            claimed = repo.claim(conn, self.settings.batch, self.settings.lease_seconds)
            at = datetime.now(UTC)
            for due in claimed:
                if due.was == Status.SUBMITTED.value:
                    record_transition(conn, due.id, Status.SUBMITTED, Status.SENT, SYSTEM, at)
        return claimed

    def step(self) -> int:
        """Claim due requests, send each, record each answer; returns how many were claimed."""
        claimed = self.claim()
        for due in claimed:
            self.process(due)
        return len(claimed)

    def process(self, due: repo.Due) -> None:
        reply = retry.send_or_retry(
            lambda: self.client.send(body(due)),
            settings=self.settings,
            attempts=due.attempts,
            retry_later=lambda delay, error: self._retry_later(due, delay, error),
            what=f"person request {due.id}",
            refused_reason="核心系统拒绝了该请求，请联系经办机构",
        )
        if reply is not None:
            self.record(due, reply)

    def _retry_later(self, due: repo.Due, delay: float, error: str) -> None:
        with self.hub.transaction():
            repo.retry_later(self.hub, due.id, due.attempts, delay, error)

    def record(self, due: repo.Due, reply: retry.Reply) -> bool:
        """Record the core's answer once; False when another worker already recorded it."""
        conn = self.hub
        applied = reply.status == "applied"
        at = datetime.now(UTC)
        reason = None if applied else (reply.reason or "核心系统办理失败")
        try:
            status = Status.APPLIED if applied else Status.FAILED
            done = repo.finish(
                conn, due.id, status=status.value, reason=reason, position=reply.position, result=reply.result, at=at
            )
            if not done:
                conn.rollback()
                return False
            record_transition(conn, due.id, Status.SENT, status, SYSTEM, at, reason)
            if applied and RequestType(due.type) in PHONE_TYPES:
                account = accounts.find_person(conn, due.person_id)
                if account is not None:
                    accounts.set_account_phone(conn, account.id, str(due.payload["phone"]))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        log.info("person request %s recorded: %s", due.id, reply.status)
        return True

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set; a database or network fault is logged and retried."""
        retry.run_rounds(self.step, self.close, stop, self.settings, "person request outbox")


def wait_idle(worker: PersonOutbox, timeout: float = 10.0) -> None:
    """Run rounds until nothing is due (tests and the demo)."""
    retry.wait_idle(worker.step, timeout)

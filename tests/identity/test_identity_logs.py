"""No log line (messages and tracebacks, every logger, DEBUG and up) holds a full phone, ID number or SMS code."""

from __future__ import annotations

import logging
import traceback

import pytest

from hub import pg
from tests.conftest import Databases
from tests.identity.idkit import build_core, sent_messages
from tests.identity.oauthkit import BrowserClient, hidden, login_staff, make_app, seed_clients_and_staff


def test_identity_flows_log_no_personal_numbers_or_codes(dbs: Databases, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    core_rows = build_core(dbs.core_url)
    zhang = core_rows.persons["zhang"]
    app, clock = make_app(dbs, lockout_global_failures=6)
    with BrowserClient(app) as client:
        seed_clients_and_staff(dbs, app.state.identity)
        step1 = client.post(
            "/auth/register", data={"document_type": "01", "document_number": zhang.id_number, "name": zhang.name}
        )
        ticket = hidden(step1.text, "ticket")
        client.post(
            "/auth/register/verify",
            data={"ticket": ticket, "code": "000000", "password": "Zhang@2026a", "password2": "Zhang@2026a"},
        )
        with pg.connect(dbs.hub_url) as conn:
            code = next(m for m in sent_messages(conn, zhang.phone) if "code" in m["fields"])["fields"]["code"]
        client.post(
            "/auth/register/verify",
            data={"ticket": ticket, "code": code, "password": "Zhang@2026a", "password2": "Zhang@2026a"},
        )
        for _ in range(6):  # reaches the global lock: the owner is told by SMS
            client.post(
                "/auth/login",
                data={
                    "kind": "person",
                    "document_type": "01",
                    "login": zhang.id_number,
                    "password": "Wrong@pass1",
                    "next": "",
                },
            )
        clock.advance(120)
        login_staff(client, dbs)
        with pg.connect(dbs.hub_url) as conn:
            messages = sent_messages(conn)
    secrets_ = {zhang.id_number, zhang.phone or "", "13800000021"}
    secrets_ |= {str(m["fields"]["code"]) for m in messages if "code" in m["fields"]}
    assert len(secrets_) >= 5 and any(m["purpose"] == "account_locked" for m in messages)
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append("".join(traceback.format_exception(*record.exc_info)))
    assert any("SMS code issued" in line for line in lines)  # the flows did log
    leaks = [(s, line) for line in lines for s in secrets_ if s and s in line]
    assert leaks == []

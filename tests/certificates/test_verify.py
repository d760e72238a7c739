"""Issuing and verifying certificates on the real hub DB and Redis: valid, altered, guessed and expired
codes, an edited stored record, and the per-IP limit on guessing — through the service and through the
public pages of the running app."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from fastapi.testclient import TestClient

from gateway.api import PUBLIC_PATHS
from gateway.app import create_app
from hub import pg
from hub.certificates import codes
from hub.certificates import service as certificates
from hub.certificates.config import CertificateSettings
from hub.certificates.content import Content
from hub.certificates.fonts import Face
from hub.certificates.signing import check_pdf, load_identity
from hub.db import WriteConnection
from hub.runtime import Endpoints
from hub.settings import Settings, SyncSettings
from tests.certificates.conftest import person_content, unit_content
from tests.conftest import Databases

KEK = "test-kek-for-certificates"
SETTINGS = CertificateSettings(mac_key="test-certificate-mac-key", verify_base_url="https://hub.test/verify")


async def _issue(hub_url: str, content: Content, faces: tuple[Face, ...], now: datetime) -> certificates.Issued:
    async with await psycopg.AsyncConnection.connect(pg.libpq(hub_url)) as conn:
        issued = await certificates.issue(
            WriteConnection(conn), content, settings=SETTINGS, key_encryption_key=KEK, faces=faces, now=now
        )
        await conn.commit()
        return issued


async def _verify(hub_url: str, text: str, now: datetime) -> certificates.Verification:
    async with await psycopg.AsyncConnection.connect(pg.libpq(hub_url)) as conn:
        return await certificates.verify(WriteConnection(conn), text, settings=SETTINGS, now=now)


def _flip(code: str) -> str:
    """The code with its last character replaced by another valid one."""
    last = codes.ALPHABET[(codes.ALPHABET.index(code[-1]) + 1) % len(codes.ALPHABET)]
    return code[:-1] + last


def test_issue_then_verify_valid_altered_guessed_expired(dbs: Databases, faces: tuple[Face, ...]) -> None:
    now = datetime.now(UTC)
    issued = asyncio.run(_issue(dbs.hub_url, person_content(), faces, now))
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{16}", issued.code)
    assert issued.expires_at - issued.issued_at == timedelta(days=30)

    ok = asyncio.run(_verify(dbs.hub_url, codes.display(issued.code).lower(), now))  # typed in lower case
    assert ok.outcome is certificates.Outcome.VALID and ok.certificate_id == issued.certificate_id
    assert ok.masked is not None
    lines = dict(ok.masked["lines"])
    assert lines["姓名"] == "吉*" and lines["公民身份号码"] == "110***********002X"
    assert "subject" not in ok.masked  # the internal person id is not shown on a public page
    assert ok.masked["tables"][0]["rows"][0][4] == "146"

    # The PDF is signed by the hub's stored signing identity, and verifies against it.
    async def signer_der() -> bytes:
        async with await psycopg.AsyncConnection.connect(pg.libpq(dbs.hub_url)) as conn:
            identity = await load_identity(WriteConnection(conn), KEK)
            assert identity is not None
            return identity.certificate_der

    assert asyncio.run(check_pdf(issued.pdf, asyncio.run(signer_der()))).ok

    # One character changed: no certificate (the code is a MAC, neighbours are not valid codes).
    assert asyncio.run(_verify(dbs.hub_url, _flip(issued.code), now)).outcome is certificates.Outcome.UNKNOWN
    assert asyncio.run(_verify(dbs.hub_url, "ABC", now)).outcome is certificates.Outcome.MALFORMED
    # Expired: the same code after the validity period.
    later = asyncio.run(_verify(dbs.hub_url, issued.code, now + timedelta(days=30, seconds=1)))
    assert later.outcome is certificates.Outcome.EXPIRED and later.masked is None
    assert "有效期" in later.message


def test_an_edited_stored_record_is_refused(dbs: Databases, faces: tuple[Face, ...]) -> None:
    now = datetime.now(UTC)
    a = asyncio.run(_issue(dbs.hub_url, person_content(), faces, now))
    b = asyncio.run(_issue(dbs.hub_url, unit_content(), faces, now))
    with psycopg.connect(pg.libpq(dbs.hub_url), autocommit=True) as conn:
        # Someone with database access rewrites what the page would show, or extends the validity.
        conn.execute(
            "update hub.certificate set masked = jsonb_set(masked, '{lines,0,1}', '\"王*\"') where id = %s",
            (a.certificate_id,),
        )
        conn.execute(
            "update hub.certificate set expires_at = expires_at + interval '1 year' where id = %s", (b.certificate_id,)
        )
    assert asyncio.run(_verify(dbs.hub_url, a.code, now)).outcome is certificates.Outcome.ALTERED
    assert asyncio.run(_verify(dbs.hub_url, b.code, now)).outcome is certificates.Outcome.ALTERED


def test_prune_removes_rows_after_the_grace_period(dbs: Databases, faces: tuple[Face, ...]) -> None:
    now = datetime.now(UTC)
    issued = asyncio.run(_issue(dbs.hub_url, person_content(), faces, now))

    async def prune(at: datetime) -> int:
        async with await psycopg.AsyncConnection.connect(pg.libpq(dbs.hub_url)) as conn:
            n = await certificates.prune(WriteConnection(conn), settings=SETTINGS, now=at)
            await conn.commit()
            return n

    assert asyncio.run(prune(issued.expires_at + timedelta(days=SETTINGS.keep_expired_days - 1))) == 0
    assert asyncio.run(prune(issued.expires_at + timedelta(days=SETTINGS.keep_expired_days + 1))) == 1
    assert asyncio.run(_verify(dbs.hub_url, issued.code, now)).outcome is certificates.Outcome.UNKNOWN


# Through the app --------------------------------------------------------------------------------------


@contextmanager
def _site(dbs: Databases, certificate_settings: CertificateSettings = SETTINGS) -> Iterator[TestClient]:
    settings = Settings(
        environment="test",
        core_db_url=dbs.core_url,
        hub_db_url=dbs.hub_url,
        query_db_url=dbs.query_url,
        redis_url=dbs.redis_url,
        sync=SyncSettings(embedded=False),
    )
    app = create_app(settings, Endpoints(dbs.core_url, dbs.hub_url, dbs.query_url, dbs.redis_url))
    app.state.certificate_settings = certificate_settings
    app.state.audit_anchor_key = b"test audit anchor key"
    # A client address of its own per test, so budgets in the shared Redis do not carry over.
    with TestClient(app, raise_server_exceptions=False, client=(f"test-{uuid.uuid4().hex}", 50000)) as client:
        yield client


def test_verification_pages(dbs: Databases, faces: tuple[Face, ...]) -> None:
    issued = asyncio.run(_issue(dbs.hub_url, person_content(), faces, datetime.now(UTC)))
    with _site(dbs) as client:
        # The pages are public (no token below), and listed so for the gateway's route-authentication test.
        assert "/verify" in PUBLIC_PATHS
        form = client.get("/verify")
        assert form.status_code == 200 and "验证码" in form.text and 'action="/verify"' in form.text
        assert "nonce-" in form.headers["content-security-policy"]

        page = client.get(f"/verify/{codes.display(issued.code)}")  # the QR code's target
        assert page.status_code == 200, page.text
        assert "验证通过" in page.text and issued.certificate_id in page.text
        assert "吉*" in page.text and "110***********002X" in page.text
        assert "11010519491231002X" not in page.text and "𠮷" not in page.text  # masked on a public page

        typed = client.post("/verify", data={"code": " " + issued.code.lower() + " "})
        assert typed.status_code == 200 and "验证通过" in typed.text

        altered = client.get(f"/verify/{_flip(issued.code)}")
        assert altered.status_code == 404 and "未找到" in altered.text and "吉*" not in altered.text
        assert client.post("/verify", data={"code": "12"}).status_code == 404
        assert "请输入验证码" in client.post("/verify", data={"code": ""}).text
        too_long = client.post("/verify", data={"code": "A" * 65})
        assert too_long.status_code == 422 and too_long.headers["content-type"].startswith("text/html")

        # Expired: the same link 31 days later (the clock moves; the code does not change).
        with time_machine.travel(datetime.now(UTC) + timedelta(days=31), tick=True):
            expired = client.get(f"/verify/{issued.code}")
        assert expired.status_code == 404 and "已超过有效期" in expired.text and "吉*" not in expired.text


def test_guessing_is_rate_limited_per_ip(dbs: Databases, faces: tuple[Face, ...]) -> None:
    issued = asyncio.run(_issue(dbs.hub_url, person_content(), faces, datetime.now(UTC)))
    tight = SETTINGS.model_copy(update={"verify_per_minute": 1.0, "verify_burst": 5})
    with _site(dbs, tight) as client:
        guesses = [client.get(f"/verify/{codes._base32(uuid.uuid4().bytes, 16)}") for _ in range(5)]
        assert [g.status_code for g in guesses] == [404] * 5
        refused = client.get(f"/verify/{codes._base32(uuid.uuid4().bytes, 16)}")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1 and "核验次数过多" in refused.text
        # Once the budget is spent, even the right code waits: guessing cannot be mixed with good lookups.
        assert client.get(f"/verify/{issued.code}").status_code == 429
        assert client.post("/verify", data={"code": issued.code}).status_code == 429


@pytest.mark.parametrize("text", ["k3m9 qx2v 7d0a b1ce", "K3M9-QX2V-7D0A-B1CE", "k3m9qx2v7doab1ce"])
def test_typing_is_forgiving(text: str) -> None:
    # Case, spaces and hyphens are ignored; the look-alike O reads as 0 (Crockford base32).
    assert codes.normalize(text) == "K3M9QX2V7D0AB1CE"

"""Issuing and verifying certificates.

``issue`` renders and signs the PDF and records what it states (masked) in the hub DB for the validity
period; it does not commit (the caller commits once, after the PDF has been handed over). The caller
has already checked that the subject may have the certificate and read the content from the query
store. ``verify`` answers the public verification page: valid (with the masked content), expired,
unknown, or altered. Rate limiting of guesses is the front end's job (``hub.access.ratelimit``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from psycopg.types.json import Jsonb

from hub.certificates import codes
from hub.certificates.config import CertificateSettings
from hub.certificates.content import Content, canonical_json
from hub.certificates.fonts import Face
from hub.certificates.pdf import SHANGHAI, Stamp, render, verify_link
from hub.certificates.signing import ensure_identity, sign_pdf
from hub.db import WriteConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issued:
    certificate_id: str
    code: str
    verify_url: str
    issued_at: datetime
    expires_at: datetime
    pdf: bytes


def _masked_mac(key: str, certificate_id: str, masked: dict[str, Any]) -> bytes:
    mac = crypto_hmac.HMAC(key.encode(), hashes.SM3())
    mac.update(b"hub-certificate-masked-v1\x00" + certificate_id.encode() + b"\x00" + canonical_json(masked))
    return mac.finalize()


async def issue(
    conn: WriteConnection,
    content: Content,
    *,
    settings: CertificateSettings,
    key_encryption_key: str,
    faces: Sequence[Face],
    now: datetime,
) -> Issued:
    """Render, sign and record one certificate. Creates the signing identity on first use (committed)."""
    now = now.astimezone(UTC).replace(microsecond=0)
    identity = await ensure_identity(conn, key_encryption_key, now, settings.issuer_name)
    mac_key = settings.mac_key.get_secret_value()
    certificate_id = codes.new_certificate_id(now.astimezone(SHANGHAI))
    expires_at = now + timedelta(days=settings.valid_days)
    digest = content.digest()
    code = codes.make_code(mac_key, certificate_id, digest, expires_at)
    url = verify_link(settings.verify_base_url, codes.display(code))
    stamp = Stamp(certificate_id, now, expires_at, code, url, settings.issuer_name)
    # Rendering and signing are CPU work (font subsetting, hashing): keep them off the event loop.
    unsigned = await asyncio.to_thread(render, content, stamp, faces)
    signed = await sign_pdf(unsigned, identity, reason=content.title, location=settings.issuer_name)
    masked = content.masked()
    await conn.execute(
        "insert into hub.certificate (id, kind, subject, code_key, content_digest, masked, masked_mac, "
        "issued_at, expires_at, signer_key_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            certificate_id,
            content.kind.value,
            content.subject,
            codes.lookup_key(code),
            digest,
            Jsonb(masked),
            _masked_mac(mac_key, certificate_id, masked),
            now,
            expires_at,
            identity.key_id,
        ),
    )
    log.info("certificate %s issued (%s)", certificate_id, content.kind.value)
    return Issued(certificate_id, code, url, now, expires_at, signed)


class Outcome(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    MALFORMED = "malformed"
    ALTERED = "altered"


MESSAGES: dict[Outcome, str] = {
    Outcome.VALID: "验证通过：该证明由本平台出具，内容以下方显示为准。",
    Outcome.EXPIRED: "该证明已超过有效期，无法核验，请向持证人索取新出具的证明。",
    Outcome.UNKNOWN: "未找到与该验证码对应的证明，请核对验证码后重试。",
    Outcome.MALFORMED: "验证码格式不正确：应为16位字母或数字（可含短横线）。",
    Outcome.ALTERED: "该证明的核验信息不一致，无法确认其真实性，请联系出具机构。",
}


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    certificate_id: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    masked: dict[str, Any] | None = None

    @property
    def message(self) -> str:
        return MESSAGES[self.outcome]


async def verify(conn: WriteConnection, text: str, *, settings: CertificateSettings, now: datetime) -> Verification:
    """What the hub says the certificate with this code states, while it is valid."""
    code = codes.normalize(text)
    if code is None:
        return Verification(Outcome.MALFORMED)
    cur = await conn.execute(
        "select id, content_digest, masked, masked_mac, issued_at, expires_at from hub.certificate where code_key = %s",
        (codes.lookup_key(code),),
    )
    row = await cur.fetchone()
    if row is None:
        return Verification(Outcome.UNKNOWN)
    certificate_id, digest, masked, masked_mac, issued_at, expires_at = row
    mac_key = settings.mac_key.get_secret_value()
    if not codes.code_matches(mac_key, code, certificate_id, bytes(digest), expires_at) or not _equal(
        bytes(masked_mac), _masked_mac(mac_key, certificate_id, masked)
    ):
        log.warning("certificate %s: stored record does not match its MAC", certificate_id)
        return Verification(Outcome.ALTERED, certificate_id)
    if now >= expires_at:
        return Verification(Outcome.EXPIRED, certificate_id, issued_at, expires_at)
    return Verification(Outcome.VALID, certificate_id, issued_at, expires_at, masked)


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


async def prune(conn: WriteConnection, *, settings: CertificateSettings, now: datetime) -> int:
    """Remove certificates expired more than ``keep_expired_days`` ago; returns how many. Never commits."""
    cur = await conn.execute(
        "delete from hub.certificate where expires_at < %s", (now - timedelta(days=settings.keep_expired_days),)
    )
    return cur.rowcount

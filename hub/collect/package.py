"""The package the offline version (单机版) exports for the agency, and its opening on the agency side.

Layout (all lengths big-endian)::

    MAGIC (12) | header length (4) | header (JSON) | body length (4) | body | SM3 tag (32) | SM2 signature (64)

- body: the collection (canonical JSON) sealed with SM4-GCM under a fresh 128-bit content key, the header
  as additional data (so a header moved onto another body does not open);
- header: the format, the agency key the content key is wrapped for (its fingerprint), the content key
  wrapped with SM2 for that public key, the unit's own SM2 public key, the export time and row counts;
- SM3 tag: SM3 of every byte before it, checked first, so a damaged or altered file is named as such
  before anything is decrypted;
- signature: SM2 (SM3 with Z) by the unit's key over the same bytes. The unit's key is made by the
  offline version on first use; its fingerprint is shown there and printed on the paper form, and the
  agency's preview shows the fingerprint of the key that signed, to be compared.

Opening refuses, each with its own Chinese message: something that is not a package, a changed byte,
a package wrapped for another agency's key, a bad signature, and content that fails the validators.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.collect import model, sm2
from hub.crypto.sm import KEY_BYTES, SealBroken, sm4_gcm_open, sm4_gcm_seal
from hub.declarations import types
from hub.errors import ValidationFailed

MAGIC = b"HUBCOLLECT\x00\x01"
FORMAT = "hub-collect/1"
TAG_BYTES = 32
SIGNATURE_BYTES = 64
MAX_PACKAGE_BYTES = 20 * 1024 * 1024


class PackageRefused(ValueError):
    """A package that cannot be accepted; ``message`` is shown to the agency staff as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


NOT_A_PACKAGE = "该文件不是数据采集包，或文件不完整"
TAMPERED = "数据采集包已被改动或损坏（完整性校验不符），请让单位重新导出"
FOREIGN = "该数据采集包不是发给本经办机构的（接收方公钥不符），请让单位用本机构公布的公钥重新导出"
BAD_SIGNATURE = "数据采集包的单位签名无效，已被改动或并非由该单位导出"
UNREADABLE = "数据采集包无法解密（接收方密钥不符或内容已被改动）"


@dataclass(frozen=True)
class Opened:
    header: dict[str, Any]
    payload: dict[str, Any]  # the canonical collection
    unit_key_fingerprint: str
    digest: str  # SM3 tag (hex): identifies this very package (idempotent import)


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def canonical(payload: Any) -> dict[str, Any]:
    """The collection validated with the same rules as the online form (``ValidationFailed`` with Chinese
    messages per row and field)."""
    return types.canonical(types.DeclarationType.UNIT_COLLECT, payload)


def messages(exc: ValidationFailed) -> list[str]:
    """The per-field messages of a refused collection."""
    return [str(e["message"]) for e in exc.extensions.get("errors", [])] or [exc.detail]


def build(payload: Any, *, agency_public_key: str, unit_key: sm2.KeyPair, now: datetime | None = None) -> bytes:
    """The signed and encrypted package of a (valid) collection for the agency's public key."""
    body_json = _canonical_json(canonical(payload))
    content_key = os.urandom(KEY_BYTES)
    agency_key = sm2.check_public_key(agency_public_key)
    parsed = model.UnitCollect.model_validate_json(body_json)
    header = _canonical_json(
        {
            "format": FORMAT,
            "agency_key": sm2.fingerprint(agency_key),
            "wrapped_key": sm2.encrypt(agency_key, content_key).hex(),
            "unit_key": unit_key.public_key,
            "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "uscc": parsed.unit.uscc,
            "rows": {"staff": len(parsed.staff), "retirees": len(parsed.retirees)},
        }
    )
    body = sm4_gcm_seal(content_key, body_json, header)
    signed = MAGIC + struct.pack(">I", len(header)) + header + struct.pack(">I", len(body)) + body
    tag = hashlib.new("sm3", signed).digest()
    return signed + tag + sm2.sign(unit_key, signed)


def _split(data: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """(signed part, header, body, tag, signature); NOT_A_PACKAGE when the structure does not hold."""
    if len(data) > MAX_PACKAGE_BYTES or not data.startswith(MAGIC):
        raise PackageRefused(NOT_A_PACKAGE)
    at = len(MAGIC)
    try:
        (header_len,) = struct.unpack_from(">I", data, at)
        header = data[at + 4 : at + 4 + header_len]
        at += 4 + header_len
        (body_len,) = struct.unpack_from(">I", data, at)
        body = data[at + 4 : at + 4 + body_len]
        at += 4 + body_len
    except struct.error:
        raise PackageRefused(NOT_A_PACKAGE) from None
    if len(header) != header_len or len(body) != body_len or len(data) != at + TAG_BYTES + SIGNATURE_BYTES:
        # A changed length byte makes the parts no longer add up: the file was altered or cut.
        raise PackageRefused(TAMPERED if len(data) >= at else NOT_A_PACKAGE)
    return data[:at], header, body, data[at : at + TAG_BYTES], data[at + TAG_BYTES :]


def open_package(data: bytes, private_keys: Iterable[tuple[str, str]]) -> Opened:
    """Check, decrypt and validate a package with the agency's key pairs ``(public, private)`` (hex).

    Raises ``PackageRefused`` (the refusals above) or ``ValidationFailed`` for content the validators refuse.
    """
    signed, header_bytes, body, tag, signature = _split(data)
    digest = hashlib.new("sm3", signed).digest()
    if not hmac.compare_digest(digest, tag):
        raise PackageRefused(TAMPERED)
    try:
        header = json.loads(header_bytes)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError
        unit_key = sm2.check_public_key(str(header["unit_key"]))
        wrapped = bytes.fromhex(str(header["wrapped_key"]))
        recipient = str(header["agency_key"])
    except (ValueError, KeyError, TypeError, sm2.Sm2Error):
        raise PackageRefused(NOT_A_PACKAGE) from None
    keys = {sm2.fingerprint(public): private for public, private in private_keys}
    private = keys.get(recipient)
    if private is None:
        raise PackageRefused(FOREIGN)
    if not sm2.verify(unit_key, signed, signature):
        raise PackageRefused(BAD_SIGNATURE)
    try:
        content_key = sm2.decrypt(private, wrapped)
        body_json = sm4_gcm_open(content_key, body, header_bytes)
        payload = json.loads(body_json)
    except (sm2.Sm2Error, SealBroken, ValueError):
        raise PackageRefused(UNREADABLE) from None
    return Opened(header, canonical(payload), sm2.fingerprint(unit_key), digest.hex())

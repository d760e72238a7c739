"""Audit records and their SM3 hash chain.

Each record's hash is SM3(previous hash ‖ canonical bytes of the record, chain id and sequence
included), so an edited row breaks its own hash, a deleted row leaves a gap in the sequence and breaks
the next row's link, and a cut tail falls short of the last signed anchor. Anchors sign (HMAC-SM3)
the head of a chain at intervals and live in their own table.
"""

from __future__ import annotations

import hmac as std_hmac
import operator
from dataclasses import dataclass
from datetime import datetime

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

GENESIS = b"\x00" * 32

FIELDS = (
    "chain_id",
    "seq",
    "at",
    "request_id",
    "actor_kind",
    "actor",
    "client_id",
    "channel",
    "action",
    "target_type",
    "target_id",
    "purpose",
    "result",
    "ip",
)


# The entry's fields in FIELDS order, read in one C call (the hot path writes one record per request).
_ENTRY_FIELDS = operator.attrgetter(*FIELDS[2:])
_AFTER_AT = operator.attrgetter(*FIELDS[3:])


@dataclass(frozen=True)
class Entry:
    """What happened, before it takes its place in a chain."""

    at: datetime
    request_id: str
    actor_kind: str
    actor: str
    client_id: str
    channel: str
    action: str
    target_type: str
    target_id: str
    purpose: str
    result: str
    ip: str | None


@dataclass(frozen=True)
class Record:
    chain_id: str
    seq: int
    entry: Entry
    prev_hash: bytes
    hash: bytes

    def row(self) -> tuple[object, ...]:
        return (self.chain_id, self.seq, *_ENTRY_FIELDS(self.entry), self.prev_hash, self.hash)


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def canonical(chain_id: str, seq: int, entry: Entry) -> bytes:
    """The hashed form: the FIELDS in order as a JSON array (``at`` in ISO 8601). Field by field, not
    ``dataclasses.asdict`` (which deep-copies every value: the same bytes at several times the cost)."""
    return orjson.dumps([chain_id, seq, entry.at.isoformat(), *_AFTER_AT(entry)])


def link(chain_id: str, seq: int, entry: Entry, prev_hash: bytes) -> Record:
    return Record(chain_id, seq, entry, prev_hash, sm3(prev_hash + canonical(chain_id, seq, entry)))


def anchor_message(chain_id: str, seq: int, head: bytes) -> bytes:
    return f"{chain_id}|{seq}|".encode() + head


def sign_anchor(key: bytes, chain_id: str, seq: int, head: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(anchor_message(chain_id, seq, head))
    return mac.finalize()


def anchor_valid(key: bytes, chain_id: str, seq: int, head: bytes, signature: bytes) -> bool:
    return std_hmac.compare_digest(sign_anchor(key, chain_id, seq, head), signature)


def key_id(key: bytes) -> str:
    """A public name for a signing key (never the key itself)."""
    return sm3(b"audit-anchor-key|" + key).hex()[:16]

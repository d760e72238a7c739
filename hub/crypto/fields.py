"""Encrypted fields and blind indexes.

A sensitive value (ID number, phone, bank account) is stored as an envelope::

    0x01 ‖ key id (4 bytes, big-endian) ‖ SM4-GCM(nonce ‖ ciphertext ‖ tag)

whose associated data is the header plus the value's context (``table.column:row key``), so a ciphertext
copied into another row or column does not open. Equality search goes through a blind index: HMAC-SM3
under a separate index key of the *normalised* value, so ``１１０１０５…`` typed with full-width digits
finds the same row as ``110105…``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from hub.crypto.sm import SealBroken, hmac_sm3, sm4_gcm_open, sm4_gcm_seal

VERSION = 1
HEADER_BYTES = 5


class Kind(StrEnum):
    """What a value is: decides its normalisation and separates the blind-index domains."""

    ID_NUMBER = "id_number"
    PHONE = "phone"
    BANK_ACCOUNT = "bank_account"
    TEXT = "text"
    PHONE_PREFIX = "phone_prefix"  # a mobile number minus its last four digits (per-prefix SMS limits)
    DOCUMENT = "document"  # kept exactly as given (a JSON document such as an SMS's personalisation)


def normalise(kind: Kind, value: str) -> str:
    """The canonical form used for blind indexes (and stored, so a decrypted value is canonical too)."""
    if kind is Kind.DOCUMENT:
        return value
    if kind is Kind.PHONE_PREFIX:
        return normalise(Kind.PHONE, value)[:-4]
    text = unicodedata.normalize("NFKC", value).strip()
    if kind is Kind.ID_NUMBER:
        return re.sub(r"\s+", "", text).upper()
    if kind is Kind.PHONE:
        digits = re.sub(r"\D", "", text)
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]  # +86 138… → 138…
        return digits
    if kind is Kind.BANK_ACCOUNT:
        return re.sub(r"\D", "", text)
    return text


def key_id_of(envelope: bytes) -> int:
    """The data key an envelope was sealed with (for rotation: which rows still use an old key)."""
    if len(envelope) < HEADER_BYTES or envelope[0] != VERSION:
        raise SealBroken("not an encrypted field")
    return int.from_bytes(envelope[1:HEADER_BYTES], "big")


@dataclass(frozen=True)
class Keyring:
    """Unwrapped data keys by id (the active one seals), and the blind-index key."""

    data_keys: dict[int, bytes]
    active_id: int
    index_key: bytes

    def seal(self, kind: Kind, value: str, context: str) -> bytes:
        return self.seal_bytes(normalise(kind, value).encode(), context)

    def open(self, envelope: bytes, context: str) -> str:
        try:
            return self.open_bytes(envelope, context).decode()
        except UnicodeDecodeError as exc:
            raise SealBroken("sealed value is not text") from exc

    def seal_bytes(self, data: bytes, context: str) -> bytes:
        """The envelope of raw bytes (a stored file): the same format as a text value's, nothing normalised."""
        header = bytes([VERSION]) + self.active_id.to_bytes(4, "big")
        return header + sm4_gcm_seal(self.data_keys[self.active_id], data, header + context.encode())

    def open_bytes(self, envelope: bytes, context: str) -> bytes:
        key_id = key_id_of(envelope)
        key = self.data_keys.get(key_id)
        if key is None:
            raise SealBroken(f"data key {key_id} is not in the keyring")
        header = envelope[:HEADER_BYTES]
        return sm4_gcm_open(key, envelope[HEADER_BYTES:], header + context.encode())

    def reseal(self, envelope: bytes, context: str) -> bytes:
        """The same value under the active key (a no-op copy when it already is); text or raw bytes alike."""
        if key_id_of(envelope) == self.active_id:
            return envelope
        return self.seal_bytes(self.open_bytes(envelope, context), context)

    def blind_index(self, kind: Kind, value: str) -> bytes:
        return hmac_sm3(self.index_key, f"{kind.value}\x00{normalise(kind, value)}".encode())

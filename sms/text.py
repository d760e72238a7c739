"""UCS-2 text for SMS: counting UTF-16 code units, splitting long messages, encoding segments.

Chinese SMS go out with data_coding 8 (UCS-2; in practice UTF-16 big-endian, so a character outside the
basic plane such as 𠮷 is a surrogate pair of two units). One SMS carries 140 bytes = 70 units; a long
message is sent in segments of 134 bytes = 67 units behind a 6-byte concatenation header (UDH), and a
surrogate pair is never cut in two (smpplib's ``make_parts`` cuts it).
"""

from __future__ import annotations

from dataclasses import dataclass

SINGLE_UNITS = 70
SEGMENT_UNITS = 67
MAX_SEGMENTS = 255
DATA_CODING_UCS2 = 8
ESM_CLASS_UDHI = 0x40


class TextTooLong(ValueError):
    """The text needs more than 255 segments."""


def units(text: str) -> int:
    """Length in UTF-16 code units (what the handset and the bill count)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split(text: str) -> list[str]:
    """The text as it is billed: one part when it fits in 70 units, else parts of at most 67 units.

    Parts are cut at code-point boundaries, so no part starts or ends inside a surrogate pair.
    """
    count = units(text)
    if count <= SINGLE_UNITS:
        return [text]
    if count == len(text):  # no character outside the basic plane: one unit each, cut every 67
        if count > SEGMENT_UNITS * MAX_SEGMENTS:
            raise TextTooLong(f"{-(-count // SEGMENT_UNITS)} segments")
        return [text[i : i + SEGMENT_UNITS] for i in range(0, count, SEGMENT_UNITS)]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > SEGMENT_UNITS:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += width
    if current:
        parts.append("".join(current))
    if len(parts) > MAX_SEGMENTS:
        raise TextTooLong(f"{len(parts)} segments")
    return parts


def segment_count(text: str) -> int:
    return len(split(text))


@dataclass(frozen=True)
class WirePart:
    """One submit_sm body: ``short_message`` bytes and the ``esm_class`` to send it with."""

    short_message: bytes
    esm_class: int


def encode(parts: list[str], reference: int) -> list[WirePart]:
    """UCS-2 (UTF-16-BE) bodies; more than one part gets the UDH ``05 00 03 ref total seq``."""
    if len(parts) == 1:
        return [WirePart(parts[0].encode("utf-16-be"), 0)]
    total = len(parts)
    ref = reference & 0xFF
    return [
        WirePart(bytes((5, 0, 3, ref, total, i)) + part.encode("utf-16-be"), ESM_CLASS_UDHI)
        for i, part in enumerate(parts, start=1)
    ]


def decode(short_message: bytes, esm_class: int) -> tuple[str, tuple[int, int, int] | None]:
    """Inverse of ``encode`` for one part: the text and (reference, total, seq) when it has a UDH."""
    if esm_class & ESM_CLASS_UDHI:
        header_len = short_message[0] + 1
        udh = short_message[1:header_len]
        info = (udh[2], udh[3], udh[4]) if len(udh) >= 5 and udh[0] == 0 else None
        return short_message[header_len:].decode("utf-16-be"), info
    return short_message.decode("utf-16-be"), None


def sign(signature: str, body: str) -> str:
    """Put the registered signature in once, at the front: 【签名】正文."""
    return f"【{signature}】{body}"

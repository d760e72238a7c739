"""Delivery receipts: the ``id:… stat:…`` text of a deliver_sm and its TLVs, mapped to message states."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.messaging.outbox import FailureKind

ESM_CLASS_RECEIPT = 0x04

# TLV message_state (SMPP 3.4 §5.3.2.35) to the stat words of the text form.
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}

# Final stats: delivered, or failed with a kind. ENROUTE and ACCEPTD are not final.
FINAL: dict[str, FailureKind | None] = {
    "DELIVRD": None,
    "EXPIRED": FailureKind.TEMPORARY,
    "UNDELIV": FailureKind.PERMANENT,
    "REJECTD": FailureKind.PERMANENT,
    "DELETED": FailureKind.TECHNICAL,
    "UNKNOWN": FailureKind.TECHNICAL,
}

_FIELD = re.compile(r"(id|stat|err):(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedReceipt:
    smpp_id: str
    stat: str
    error: str | None


def parse(text: bytes, receipted_message_id: str | bytes | None, message_state: int | None) -> ParsedReceipt | None:
    """The receipt in a deliver_sm, or None when it carries none.

    The TLVs win over the text (the text form is only a de-facto standard), but either alone is enough.
    """
    fields = {k.lower(): v for k, v in _FIELD.findall(text.decode("latin-1"))}
    smpp_id: str | None = None
    if receipted_message_id:
        raw = (
            receipted_message_id.decode("ascii", "replace")
            if isinstance(receipted_message_id, bytes)
            else receipted_message_id
        )
        smpp_id = raw.rstrip("\x00").strip() or None
    smpp_id = smpp_id or fields.get("id")
    stat = MESSAGE_STATES.get(message_state) if message_state is not None else None
    stat = stat or (fields["stat"].upper() if "stat" in fields else None)
    if not smpp_id or not stat:
        return None
    return ParsedReceipt(smpp_id, stat, fields.get("err"))


def is_final(stat: str) -> bool:
    return stat in FINAL

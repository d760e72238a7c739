"""社会保障卡 status codes (core ``ac50.status``, code table ``CARD_STATUS``) and their display names.

The one place the hub names a card status; the hotline, the push watcher and the person's pages use it.
"""

from __future__ import annotations

NORMAL = "1"
LOST = "2"
CANCELLED = "3"

CARD_STATUS_LABELS: dict[str, str] = {NORMAL: "正常", LOST: "挂失", CANCELLED: "注销"}


def card_status_label(status: str | None) -> str:
    """The display name of a status code; an unknown code shows as itself, a missing one as 未知."""
    if not status:
        return "未知"
    return CARD_STATUS_LABELS.get(status, status)

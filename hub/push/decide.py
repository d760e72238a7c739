"""The routing decision, pure: which channels a notice takes and when its SMS may go.

Rules:
- Each message kind has a default route; a person's preference overrides it.
- ``app`` falls back to SMS for a person without the app (a retiree without a smartphone still hears
  that the pension was paid).
- Card status changes are *mandatory*: they may signal fraud, so an SMS goes whatever the preference.
- Quiet hours hold back SMS that are not urgent until the window ends; the inbox is silent, so app
  notices are never held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hub.content.inbox import MessageKind


class Route(StrEnum):
    APP = "app"
    SMS = "sms"
    BOTH = "both"
    NONE = "none"


class Urgency(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


DEFAULT_ROUTES: Mapping[MessageKind, Route] = {
    MessageKind.BUSINESS: Route.APP,
    MessageKind.PAYMENT: Route.APP,
    MessageKind.CARD: Route.BOTH,
    MessageKind.POLICY: Route.APP,
    MessageKind.SYSTEM: Route.APP,
}
MANDATORY_SMS = frozenset({MessageKind.CARD})
NO_SMS_FALLBACK = frozenset({MessageKind.POLICY, MessageKind.SYSTEM})  # news never costs an SMS


@dataclass(frozen=True)
class Preferences:
    routes: Mapping[MessageKind, Route] = field(default_factory=dict)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)

    def route(self, kind: MessageKind) -> Route:
        return self.routes.get(kind, DEFAULT_ROUTES[kind])


@dataclass(frozen=True)
class Decision:
    app: bool
    sms: bool
    sms_at: datetime | None  # when the SMS may be handed to the SMS platform (None: no SMS)


def _in_window(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight


def quiet_until(now: datetime, start: time, end: time, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet window ``now`` falls in (an aware UTC datetime), or None when not quiet."""
    local = now.astimezone(tz)
    if not _in_window(local.timetz().replace(tzinfo=None), start, end):
        return None
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)


def decide(
    prefs: Preferences,
    kind: MessageKind,
    urgency: Urgency,
    now: datetime,
    *,
    has_app: bool,
    has_phone: bool,
    tz: ZoneInfo,
) -> Decision:
    route = prefs.route(kind)
    app = has_app and route in (Route.APP, Route.BOTH)
    sms = route in (Route.SMS, Route.BOTH) or (route is Route.APP and not has_app and kind not in NO_SMS_FALLBACK)
    if kind in MANDATORY_SMS:
        sms = True
    sms = sms and has_phone
    if not sms:
        return Decision(app, False, None)
    held = None if urgency is Urgency.URGENT else quiet_until(now, prefs.quiet_start, prefs.quiet_end, tz)
    return Decision(app, True, held or now)

"""Identity refusals (wrong PIN, lockout, expired code …) as problem+json of the channel APIs."""

from __future__ import annotations

from hub.errors import TYPE_BASE, HubError
from hub.identity.errors import IdentityError


class ChannelRefused(HubError):
    """An ``IdentityError`` with its status, Chinese title and detail, and its stable type as ``code``."""

    type = TYPE_BASE + "identity"

    def __init__(self, exc: IdentityError) -> None:
        super().__init__(exc.detail, code=exc.type)
        # Per instance: the identity error decides the status (400, 401, 403, 429, 503) and title.
        setattr(self, "status", exc.status)  # noqa: B010
        setattr(self, "title", exc.title)  # noqa: B010


class DeviceRefused(HubError):
    """A caller that is not a registered device of this channel."""

    type = TYPE_BASE + "device-refused"
    title = "无权访问"
    status = 403
    default_detail = "仅限已登记的终端调用"

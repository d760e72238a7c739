"""What a channel needs from the gateway to read as the person it serves (injected, never imported)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from starlette.requests import Request

from hub.access.context import ReadContext
from hub.access.subject import Subject

# (request, person subject) -> a ReadContext on the query store, with the gateway's audit and limits.
ReadOpener = Callable[[Request, Subject], AbstractAsyncContextManager[ReadContext]]
# The gateway's caller resolution: here, the device (kiosk or hotline system) from its access token.
Authenticate = Callable[[Request], Awaitable[Subject]]

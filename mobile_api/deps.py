"""The app-person dependency of the ``/app/v1/me`` routes: a person logged in through the app, nobody else."""

# No ``from __future__ import annotations``: FastAPI must see the dependency annotations as objects.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends

from hub.access.subject import Channel, Subject, SubjectKind
from mobile_api.errors import AppChannelRequired


def require_app_person(subject: Subject) -> Subject:
    """``subject`` if it is a person with an app token; ``AppChannelRequired`` (403) otherwise."""
    if subject.channel is not Channel.APP or subject.kind is not SubjectKind.PERSON or subject.person_id is None:
        raise AppChannelRequired()
    return subject


def app_person(authenticate: Any) -> Callable[..., Awaitable[Subject]]:
    """A dependency giving the caller (``authenticate``: 401 when there is none) if it is an app person."""

    async def dependency(subject: Annotated[Subject, Depends(authenticate)]) -> Subject:
        return require_app_person(subject)

    return dependency

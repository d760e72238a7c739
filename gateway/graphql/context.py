"""The GraphQL context: built from the same FastAPI dependencies as REST, with per-request DataLoaders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import Depends
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from gateway.api.deps import reader
from hub.access.context import ReadContext
from hub.errors import NotFound
from hub.persons import service as persons
from hub.persons.schemas import PersonOverviewRead


class Context(BaseContext):
    def __init__(self, read: ReadContext) -> None:
        super().__init__()
        self.read = read

        async def load_overviews(ids: Sequence[int]) -> list[PersonOverviewRead | BaseException]:
            found = await persons.get_overviews(read, ids)
            return [found.get(i) or NotFound() for i in ids]

        # One loader per request: the batch is the people one query asks for, never shared across callers.
        self.overviews: DataLoader[int, PersonOverviewRead] = DataLoader(load_fn=load_overviews)


async def get_context(read: Annotated[ReadContext, Depends(reader("graphql"))]) -> AsyncIterator[Context]:
    yield Context(read)

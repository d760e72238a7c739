"""The offline version's own SQLite file (SQLAlchemy): the saved collection and the unit's SM2 key pair.

The key pair is made on first use and signs every package exported from this file; its fingerprint is
shown after each save (to be written on the paper form the agency compares with). The file stays on the
clerk's machine; only the exported package, encrypted for the agency, leaves it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select, update

from hub.collect import package, sm2

metadata = MetaData()
draft = Table(
    "collect_draft",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payload", Text, nullable=False),
    Column("saved_at", Text, nullable=False),
)
unit_key = Table(
    "unit_key",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("private_key", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)


class NothingSaved(ValueError):
    """Export without a saved collection."""


class LocalStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = create_engine(f"sqlite:///{path}", future=True)
        metadata.create_all(self.engine)

    def load(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(draft.c.payload).where(draft.c.id == 1)).first()
        return json.loads(row[0]) if row else None

    def save(self, payload: dict[str, Any]) -> None:
        """Keep a checked collection (replacing the one saved before), in one transaction."""
        body = json.dumps(package.canonical(payload), ensure_ascii=False)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.engine.begin() as conn:
            if conn.execute(select(draft.c.id).where(draft.c.id == 1)).first() is None:
                conn.execute(insert(draft).values(id=1, payload=body, saved_at=now))
            else:
                conn.execute(update(draft).where(draft.c.id == 1).values(payload=body, saved_at=now))

    def key_pair(self) -> sm2.KeyPair:
        with self.engine.begin() as conn:
            row = conn.execute(select(unit_key.c.private_key, unit_key.c.public_key).where(unit_key.c.id == 1)).first()
            if row is not None:
                return sm2.KeyPair(str(row[0]), str(row[1]))
            pair = sm2.generate()
            conn.execute(
                insert(unit_key).values(
                    id=1, private_key=pair.private_key, public_key=pair.public_key,
                    created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                )
            )  # fmt: skip
            return pair

    def unit_key_fingerprint(self) -> str:
        return sm2.fingerprint(self.key_pair().public_key)

    def export(self, agency_public_key: str) -> bytes:
        """The package of the saved collection for the agency's key (validated again on the way out)."""
        saved = self.load()
        if saved is None:
            raise NothingSaved("尚未保存填报内容，请先运行 hub collect serve 填报并保存")
        return package.build(saved, agency_public_key=agency_public_key, unit_key=self.key_pair())

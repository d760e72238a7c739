"""The offline version's own SQLite file (SQLAlchemy): the saved collection and the unit's SM2 key pair.

The key pair is made when the file is first opened and signs every package exported from it; its
fingerprint is shown after each save (to be written on the paper form the agency compares with). The
private key is stored only sealed under the operator's passphrase (``hub.collect.seal``): ``unlock``
makes the pair and seals it on a new file, opens it on a sealed one, and seals the plaintext key of a
file written before sealing existed (emptying the plaintext column; SQLite's ``secure_delete`` and a
``VACUUM`` leave no copy of it in the file's free pages). The file stays on the clerk's machine; only the
exported package, encrypted for the agency, leaves it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy import inspect as sa_inspect

from hub.collect import package, seal, sm2

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
    Column("private_key", Text, nullable=False),  # empty once sealed (files before sealing held it here)
    Column("public_key", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("private_sealed", LargeBinary),
    Column("kdf", Text),  # seal.KdfParams as JSON
)
_ADDED_COLUMNS = {"private_sealed": "BLOB", "kdf": "TEXT"}


class NothingSaved(ValueError):
    """Export without a saved collection."""


class Locked(RuntimeError):
    """The unit key is needed before the passphrase was given (``unlock``)."""


class KeyState(Enum):
    NONE = "none"  # a new file: the passphrase is set now
    PLAIN = "plain"  # a file written before sealing: the passphrase is set now and the key sealed
    SEALED = "sealed"  # the passphrase is asked for


def _aad(row_id: int, public_key: str) -> bytes:
    return f"hub-collect-local:unit_key:{row_id}:{public_key}".encode()


def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete = ON")  # deleted and overwritten content is zeroed in the file
    cursor.close()


class LocalStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = create_engine(f"sqlite:///{path}", future=True)
        event.listen(self.engine, "connect", _secure_delete)
        metadata.create_all(self.engine)
        present = {c["name"] for c in sa_inspect(self.engine).get_columns("unit_key")}
        with self.engine.begin() as conn:
            for name, kind in _ADDED_COLUMNS.items():
                if name not in present:  # a file of the version before sealing
                    conn.exec_driver_sql(f"ALTER TABLE unit_key ADD COLUMN {name} {kind}")
        self._pair: sm2.KeyPair | None = None

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

    def key_state(self) -> KeyState:
        with self.engine.connect() as conn:
            row = conn.execute(select(unit_key.c.private_sealed).where(unit_key.c.id == 1)).first()
        if row is None:
            return KeyState.NONE
        return KeyState.PLAIN if row[0] is None else KeyState.SEALED

    def unlock(self, passphrase: str) -> sm2.KeyPair:
        """The unit's key pair, kept in memory for this process.

        On a new file the pair is made and sealed under ``passphrase``; on a file with a plaintext key
        that key is sealed (the same pair: its fingerprint may already be on paper) and the plaintext
        removed; both check the new passphrase (``PassphraseRefused``). On a sealed file the passphrase
        opens it or ``WrongPassphrase`` is raised.
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                select(unit_key.c.private_key, unit_key.c.public_key, unit_key.c.private_sealed, unit_key.c.kdf)
                .where(unit_key.c.id == 1)
            ).first()  # fmt: skip
            if row is not None and row[2] is not None:
                params = seal.KdfParams.of(str(row[3]))
                pair = sm2.KeyPair(seal.unseal(bytes(row[2]), params, passphrase, _aad(1, str(row[1]))), str(row[1]))
                if not sm2.verify(pair.public_key, b"unit-key-check", sm2.sign(pair, b"unit-key-check")):
                    raise seal.WrongPassphrase(seal.WRONG)  # pragma: no cover - the AAD binds the pair
                self._pair = pair
                return pair
            seal.check_new(passphrase)
            pair = sm2.KeyPair(str(row[0]), str(row[1])) if row is not None else sm2.generate()
            sealed, params = seal.seal(pair.private_key, passphrase, _aad(1, pair.public_key))
            if row is None:
                conn.execute(
                    insert(unit_key).values(
                        id=1, private_key="", public_key=pair.public_key, private_sealed=sealed, kdf=params.text(),
                        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    )
                )  # fmt: skip
            else:
                conn.execute(
                    update(unit_key).where(unit_key.c.id == 1).values(
                        private_key="", private_sealed=sealed, kdf=params.text()
                    )
                )  # fmt: skip
        if row is not None:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")  # no page of the file keeps the plaintext key
        self._pair = pair
        return pair

    def key_pair(self) -> sm2.KeyPair:
        if self._pair is None:
            raise Locked("尚未输入口令，单位签名私钥未解开")
        return self._pair

    def unit_key_fingerprint(self) -> str:
        return sm2.fingerprint(self.key_pair().public_key)

    def public_key_fingerprint(self) -> str | None:
        """The fingerprint of the file's unit key without the passphrase (None before the first start)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(unit_key.c.public_key).where(unit_key.c.id == 1)).first()
        return None if row is None else sm2.fingerprint(str(row[0]))

    def export(self, agency_public_key: str) -> bytes:
        """The package of the saved collection for the agency's key (validated again on the way out)."""
        saved = self.load()
        if saved is None:
            raise NothingSaved("尚未保存填报内容，请先运行 hub collect serve 填报并保存")
        return package.build(saved, agency_public_key=agency_public_key, unit_key=self.key_pair())

"""The offline version's unit key sealed under the operator's passphrase: set twice at the first start of
``hub collect serve`` (at least 10 characters), asked for later and by ``hub collect export``; a wrong one
refused; the SQLite file never holds the private key in clear (the file's bytes are scanned); a file of the
version before sealing is sealed on its first start with the same key pair; and a package exported with the
unsealed key verifies at the agency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub.collect import keys, package, rows, seal, sm2
from hub.collect.local import KeyState, LocalStore, unit_key
from tests.collect.conftest import collection
from tests.declarations import kit as dkit
from tests.portal_staff.kit import hidden

PASSPHRASE = "单位口令-correct-horse"
ENV = "HUB_COLLECT_PASSPHRASE"


def _plaintext_in(db: Path, private_key: str) -> bool:
    """Whether the file holds the private key in clear, as hex text or as its 32 raw bytes."""
    data = db.read_bytes()
    return private_key.encode() in data or private_key.upper().encode() in data or bytes.fromhex(private_key) in data


def _served(db: Path, monkeypatch: pytest.MonkeyPatch, **invoke: Any) -> tuple[Any, FastAPI | None]:
    """``hub collect serve`` up to the point it would start the web server (the app it would serve)."""
    started: list[FastAPI] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: started.append(app))
    result = CliRunner().invoke(cli, ["collect", "serve", "--db", str(db)], **invoke)
    return result, (started[0] if started else None)


def _agency_key_file(tmp_path: Path, agency: sm2.KeyPair) -> Path:
    path = tmp_path / "agency.pub"
    path.write_text(keys.PublicKey("x", agency.public_key, dkit.NOW).text(), encoding="utf-8")
    return path


def _export(db: Path, key_file: Path, out: Path, **invoke: Any) -> Any:
    args = ["collect", "export", "--db", str(db), "--agency-key", str(key_file), "--out", str(out)]
    return CliRunner().invoke(cli, args, **invoke)


def test_first_start_sets_the_passphrase_and_the_file_holds_no_plaintext_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "unit.sqlite"
    no_env = {ENV: None}
    short, app = _served(db, monkeypatch, input="short-one\nshort-one\n", env=no_env)
    assert short.exit_code == 1 and "口令至少需要10个字符" in short.output and app is None
    differ, app = _served(db, monkeypatch, input=f"{PASSPHRASE}\n{PASSPHRASE}x\n", env=no_env)
    assert differ.exit_code == 1 and "两次输入的口令不一致" in differ.output and app is None
    assert LocalStore(db).key_state() is KeyState.NONE  # nothing made by a refused start
    first, app = _served(db, monkeypatch, input=f"{PASSPHRASE}\n{PASSPHRASE}\n", env=no_env)
    assert first.exit_code == 0, first.output
    assert "首次使用" in first.output and app is not None
    fingerprint = LocalStore(db).public_key_fingerprint()
    assert fingerprint is not None and fingerprint in first.output

    payload = collection()
    with TestClient(app, base_url="http://127.0.0.1") as client:
        form = client.get("/")
        fields = payload["unit"] | {
            "staff": rows.text_of(payload["staff"], rows.STAFF_COLUMNS),
            "retirees": rows.text_of(payload["retirees"], rows.RETIREE_COLUMNS),
        }
        saved = client.post("/", data={**hidden(form.text), **fields})
        assert saved.status_code == 200 and fingerprint in saved.text

    private = LocalStore(db).unlock(PASSPHRASE).private_key
    assert not _plaintext_in(db, private)
    with create_engine(f"sqlite:///{db}").connect() as conn:
        stored = conn.execute(select(unit_key.c.private_key, unit_key.c.private_sealed, unit_key.c.kdf)).one()
    assert stored[0] == "" and len(stored[1]) == 12 + 64 + 16  # nonce ‖ SM4-GCM of the 64 hex digits ‖ tag
    kdf = json.loads(stored[2])
    assert kdf["algorithm"] == "argon2id" and len(bytes.fromhex(kdf["salt"])) == 16
    assert {kdf["time_cost"], kdf["memory_cost"], kdf["parallelism"]} == {3, 65536, 4}

    # A later start asks once; the wrong passphrase is refused and serves nothing.
    wrong, app = _served(db, monkeypatch, input="not-the-passphrase\n", env=no_env)
    assert wrong.exit_code == 1 and "口令不正确" in wrong.output and app is None
    later, app = _served(db, monkeypatch, input=f"{PASSPHRASE}\n", env=no_env)
    assert later.exit_code == 0 and app is not None and "设置口令" not in later.output


def test_export_needs_the_passphrase_and_verifies_at_the_agency(tmp_path: Path) -> None:
    db = tmp_path / "unit.sqlite"
    store = LocalStore(db)
    store.unlock(PASSPHRASE)
    store.save(collection())
    agency = sm2.generate()
    key_file = _agency_key_file(tmp_path, agency)
    out = tmp_path / "unit.hubcollect"
    refused = _export(db, key_file, out, env={ENV: "another-passphrase"})
    assert refused.exit_code == 1 and "口令不正确" in refused.output and not out.exists()
    with pytest.raises(seal.WrongPassphrase):
        LocalStore(db).unlock("another-passphrase")
    prompted = _export(db, key_file, out, input=f"{PASSPHRASE}\n", env={ENV: None})
    assert prompted.exit_code == 0, prompted.output
    opened = package.open_package(out.read_bytes(), [(agency.public_key, agency.private_key)])  # signature checked
    assert opened.payload == package.canonical(collection()) | {"unit": opened.payload["unit"]}
    assert opened.unit_key_fingerprint == LocalStore(db).public_key_fingerprint()


def test_a_sealed_key_does_not_open_on_another_row(tmp_path: Path) -> None:
    """The additional data names the row and its public key: the sealed value copied into another file next
    to another public key does not open, even with the right passphrase."""
    one, two = LocalStore(tmp_path / "one.sqlite"), LocalStore(tmp_path / "two.sqlite")
    one.unlock(PASSPHRASE)
    two.unlock(PASSPHRASE)
    with one.engine.connect() as conn:
        sealed, kdf = conn.execute(select(unit_key.c.private_sealed, unit_key.c.kdf)).one()
    with two.engine.begin() as conn:
        conn.execute(unit_key.update().values(private_sealed=sealed, kdf=kdf))
    with pytest.raises(seal.WrongPassphrase):
        LocalStore(tmp_path / "two.sqlite").unlock(PASSPHRASE)
    assert LocalStore(tmp_path / "one.sqlite").unlock(PASSPHRASE).public_key == one.key_pair().public_key


def test_a_file_with_a_plaintext_key_is_sealed_on_first_start(tmp_path: Path) -> None:
    """A file of the version before sealing (its unit_key table without the sealed columns) keeps its key
    pair, so the fingerprint on the paper form still holds; the plaintext leaves the file."""
    db = tmp_path / "old.sqlite"
    old = MetaData()
    old_key = Table(
        "unit_key", old, Column("id", Integer, primary_key=True), Column("private_key", Text, nullable=False),
        Column("public_key", Text, nullable=False), Column("created_at", Text, nullable=False),
    )  # fmt: skip
    old_draft = Table(
        "collect_draft", old, Column("id", Integer, primary_key=True), Column("payload", Text, nullable=False),
        Column("saved_at", Text, nullable=False),
    )  # fmt: skip
    pair = sm2.generate()
    engine = create_engine(f"sqlite:///{db}")
    old.create_all(engine)
    body = json.dumps(package.canonical(collection()), ensure_ascii=False)
    with engine.begin() as conn:
        conn.execute(insert(old_key).values(id=1, private_key=pair.private_key, public_key=pair.public_key,
                                            created_at="2026-01-05T08:00:00+00:00"))  # fmt: skip
        conn.execute(insert(old_draft).values(id=1, payload=body, saved_at="2026-01-05T08:00:00+00:00"))
    engine.dispose()
    assert _plaintext_in(db, pair.private_key)  # the scan finds a key stored in clear
    assert LocalStore(db).key_state() is KeyState.PLAIN

    agency = sm2.generate()
    out = tmp_path / "unit.hubcollect"
    short = _export(db, _agency_key_file(tmp_path, agency), out, env={ENV: "too-short"})
    assert short.exit_code == 1 and "口令至少需要10个字符" in short.output
    assert LocalStore(db).key_state() is KeyState.PLAIN and not out.exists()
    result = _export(db, _agency_key_file(tmp_path, agency), out, env={ENV: PASSPHRASE})
    assert result.exit_code == 0, result.output
    assert "已加密保存，原明文已清除" in result.output
    assert LocalStore(db).key_state() is KeyState.SEALED
    assert not _plaintext_in(db, pair.private_key)
    assert LocalStore(db).unlock(PASSPHRASE) == pair  # the same pair, now sealed
    opened = package.open_package(out.read_bytes(), [(agency.public_key, agency.private_key)])
    assert opened.unit_key_fingerprint == sm2.fingerprint(pair.public_key)
    with pytest.raises(seal.WrongPassphrase):
        LocalStore(db).unlock("not-the-passphrase")


def test_the_local_app_refuses_a_locked_store(tmp_path: Path) -> None:
    from hub.collect.local import Locked
    from portal_web.collect import local_app

    with pytest.raises(Locked):
        local_app(LocalStore(tmp_path / "unit.sqlite"))

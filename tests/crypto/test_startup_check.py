"""A process whose HUB_CRYPTO__KEK does not unwrap a database's keys refuses to start; /readyz says so later.

Real hub DB and query store: the keys are created under one KEK, then a web app and the workers are started
with another. The messages must name the database and the key id and never the KEK.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from gateway.app import create_app
from gateway.cli import app as cli
from hub import pg
from hub.config.crypto import CryptoSettings
from hub.crypto import check, keys, ring
from hub.runtime import Endpoints
from hub.settings import Settings, SyncSettings
from tests.conftest import Databases
from tests.crypto.test_keys_cli import _env

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
KEK = "startup-check-kek-" + "a" * 24
OTHER = "startup-check-other-" + "b" * 24


@pytest.fixture(autouse=True)
def _forget_keks() -> Iterator[None]:
    yield
    ring.reset()  # the apps and commands set this process's KEK


def _create_keys(dbs: Databases, kek: str = KEK) -> dict[str, int]:
    """The index key and the first data key of both databases under ``kek``; the active data key ids."""
    active: dict[str, int] = {}
    for url, table in ((dbs.hub_url, keys.HUB_TABLE), (dbs.query_url, keys.QUERY_TABLE)):
        with pg.connect(url) as conn:
            active[table] = keys.ensure(conn, kek, NOW, table).active_id
    return active


def _app(dbs: Databases, kek: str) -> TestClient:
    settings = Settings(
        core_db_url=dbs.core_url,
        hub_db_url=dbs.hub_url,
        query_db_url=dbs.query_url,
        sync=SyncSettings(embedded=False),
        crypto=CryptoSettings(kek=SecretStr(kek)),
    )
    endpoints = Endpoints(dbs.core_url, dbs.hub_url, dbs.query_url, dbs.redis_url)
    return TestClient(create_app(settings, endpoints))


def test_a_web_node_with_another_kek_refuses_to_start(dbs: Databases, caplog: pytest.LogCaptureFixture) -> None:
    active = _create_keys(dbs)
    with pytest.raises(check.KeysUnusable) as refused, _app(dbs, OTHER):
        pytest.fail("the app started")
    message = str(refused.value)
    # The hub DB is checked first; its first current key is the blind-index key (created before the data key).
    assert refused.value.table == keys.HUB_TABLE
    assert refused.value.trouble.key_id == active[keys.HUB_TABLE] - 1
    assert f"blind-index key {active[keys.HUB_TABLE] - 1} of the hub DB" in message
    assert dbs.hub_url.rsplit("/", 1)[1] in message  # the database's name
    assert "another key-encryption key" in message and "hub keys rewrap" in message
    assert OTHER not in message and KEK not in message
    assert any("refusing to start" in r.getMessage() for r in caplog.records)
    assert not any(OTHER in r.getMessage() or KEK in r.getMessage() for r in caplog.records)


def test_the_query_store_alone_under_another_kek_is_named(dbs: Databases) -> None:
    _create_keys(dbs)
    with pg.connect(dbs.query_url) as conn:
        assert keys.rewrap(conn, KEK, OTHER, keys.QUERY_TABLE) == 2
        conn.commit()
    with pytest.raises(check.KeysUnusable, match="of the query store") as refused, _app(dbs, KEK):
        pytest.fail("the app started")
    assert refused.value.table == keys.QUERY_TABLE


def test_right_kek_is_ready_and_a_later_rewrap_elsewhere_makes_it_unready(dbs: Databases) -> None:
    active = _create_keys(dbs)
    with _app(dbs, KEK) as client:
        reply = client.get("/readyz")
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["status"] == "ready"
        assert body["checks"]["hub_db_keys"] == "ok"
        assert body["checks"]["query_store_keys"] == "ok"
        assert "failing" not in body
        # Another node moves the query store's keys under a KEK this node lacks.
        with pg.connect(dbs.query_url) as conn:
            keys.rewrap(conn, KEK, OTHER, keys.QUERY_TABLE)
            conn.commit()
        reply = client.get("/readyz")
        assert reply.status_code == 503
        body = reply.json()
        assert body["status"] == "unavailable"
        assert body["failing"] == ["query_store_keys"]
        assert body["checks"]["hub_db_keys"] == "ok"
        assert body["checks"]["query_store"] == "ok"
        assert body["checks"]["query_store_keys"].startswith(f"blind-index key {active[keys.QUERY_TABLE] - 1} ")
        assert OTHER not in reply.text and KEK not in reply.text
        # Moved back: ready again.
        with pg.connect(dbs.query_url) as conn:
            keys.rewrap(conn, OTHER, KEK, keys.QUERY_TABLE)
            conn.commit()
        assert client.get("/readyz").status_code == 200


def test_no_keys_yet_is_no_reason_to_refuse(dbs: Databases) -> None:
    with _app(dbs, KEK) as client:
        body = client.get("/readyz").json()
    assert body["checks"]["hub_db_keys"] == "ok" and body["checks"]["query_store_keys"] == "ok"


def test_an_altered_key_and_a_missing_active_key_are_named(dbs: Databases) -> None:
    active = _create_keys(dbs)
    data_key = active[keys.HUB_TABLE]
    with pg.connect(dbs.hub_url) as conn:
        # The fingerprint still matches this KEK, but one bit of the wrapped key (its nonce) was flipped.
        conn.execute(
            "update hub.crypto_key set wrapped = set_byte(wrapped, 0, get_byte(wrapped, 0) # 1) where key_id = %s",
            (data_key,),
        )
        found = check.trouble(conn, KEK, keys.HUB_TABLE)
        assert found == check.KeyTrouble(data_key, keys.DATA, check.ALTERED)
        conn.rollback()
        conn.execute("update hub.crypto_key set active = false where key_id = %s", (data_key,))
        found = check.trouble(conn, KEK, keys.HUB_TABLE)
        assert found is not None and found.key_id is None and "no active data key" in found.summary()
        conn.rollback()
        assert check.trouble(conn, KEK, keys.HUB_TABLE) is None


def test_a_database_not_migrated_yet_passes(dbs: Databases) -> None:
    with pg.connect(dbs.core_url) as conn:  # the core has no key table
        assert check.trouble(conn, KEK, keys.HUB_TABLE) is None


@pytest.mark.parametrize(
    ("command", "database"),
    [
        (["sync", "run"], "query store"),
        (["declarations", "run"], "hub DB"),
        (["push", "run"], "hub DB"),
        (["sms", "run"], "hub DB"),
    ],
)
def test_workers_with_another_kek_exit_non_zero(dbs: Databases, command: list[str], database: str) -> None:
    _create_keys(dbs)
    result = CliRunner().invoke(cli, command, env=_env(dbs, OTHER))
    assert result.exit_code == 3, result.output
    assert f"无法启动：主密钥 HUB_CRYPTO__KEK 不能解封 {database}" in result.output
    assert f"of the {database}" in result.output and "hub keys rewrap" in result.output
    assert OTHER not in result.output and KEK not in result.output

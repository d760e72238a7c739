"""`hub keys status | rotate | rewrap` on a real hub DB with a registered encrypted column."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub import pg
from hub.crypto import keys, ring
from hub.crypto.fields import Kind
from hub.crypto.rotation import REGISTRY, EncryptedColumn, keys_in_use, register
from tests.conftest import Databases

KEK = "cli-test-kek-" + "d" * 24
COLUMN = EncryptedColumn("public.t_cli_secret", "v", ("id",), "t_cli_secret.v")


@pytest.fixture
def registered() -> Iterator[EncryptedColumn]:
    register(COLUMN)
    yield COLUMN
    REGISTRY.remove(COLUMN)
    ring.reset()  # the commands set this process's KEK


def _env(dbs: Databases, kek: str = KEK) -> dict[str, str]:
    return {
        "HUB_CORE_DB_URL": dbs.core_url,
        "HUB_HUB_DB_URL": dbs.hub_url,
        "HUB_QUERY_DB_URL": dbs.query_url,
        "HUB_REDIS_URL": dbs.redis_url,
        "HUB_ENVIRONMENT": "test",
        "HUB_CRYPTO__KEK": kek,
    }


def test_rotate_reencrypts_and_rewrap_moves_the_keys(dbs: Databases, registered: EncryptedColumn) -> None:
    runner = CliRunner()
    with pg.connect(dbs.hub_url) as conn:
        conn.execute("create table public.t_cli_secret (id int primary key, v bytea)")
        conn.commit()
    result = runner.invoke(cli, ["keys", "status"], env=_env(dbs))
    assert result.exit_code == 0, result.output
    with pg.connect(dbs.hub_url) as conn:
        ring = keys.load(conn, KEK)
        assert ring is not None
        with conn.cursor() as cur:
            cur.executemany(
                "insert into public.t_cli_secret values (%s, %s)",
                [(i, ring.seal(Kind.PHONE, f"1370000{i:04d}", COLUMN.context((i,)))) for i in range(300)],
            )
        conn.commit()
    assert "public.t_cli_secret.v: 0 行待重新加密" in runner.invoke(cli, ["keys", "status"], env=_env(dbs)).output

    result = runner.invoke(cli, ["keys", "rotate"], env=_env(dbs))
    assert result.exit_code == 0, result.output
    assert f"停用的旧密钥：{ring.active_id}" in result.output
    with pg.connect(dbs.hub_url) as conn:
        new = keys.load(conn, KEK)
        assert new is not None and new.active_id != ring.active_id
        assert keys_in_use(conn, COLUMN) == {new.active_id}
        row = conn.execute("select v from public.t_cli_secret where id = 42").fetchone()
        assert row is not None and new.open(cast(bytes, row[0]), COLUMN.context((42,)))  # v: bytea == "13700000042"

    short = runner.invoke(cli, ["keys", "rewrap"], env={**_env(dbs), "HUB_NEW_KEK": "short"})
    assert short.exit_code == 2
    new_kek = "rotated-kek-" + "e" * 24
    result = runner.invoke(cli, ["keys", "rewrap"], env={**_env(dbs), "HUB_NEW_KEK": new_kek})
    assert result.exit_code == 0, result.output
    # Each database holds its index key and two data keys (the first and the rotated one): 2 × 3.
    assert "重新封装 6 个密钥" in result.output
    refused = runner.invoke(cli, ["keys", "status"], env=_env(dbs))
    assert refused.exit_code != 0  # the old KEK no longer opens the keys
    assert runner.invoke(cli, ["keys", "status"], env=_env(dbs, new_kek)).exit_code == 0

"""Backup and restore drill: pg_dump of the three databases restored into a fresh cluster, after which
`hub sync verify` and `hub audit verify` pass there; a tampered restored audit row is caught."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.auth import issuer_audience
from gateway.app import create_app
from hub import migrations, pg
from hub.identity.tokens import issue_access_token
from hub.runtime import Endpoints
from hub.settings import Settings, SyncSettings
from tests.api.actors import cast
from tests.api.conftest import load_province
from tests.fixtures.servers import Servers
from tests.reliability.servers import private_postgres
from tests.replica.cluster import PG_BIN, Server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

ANCHOR_KEY = "backup-drill-anchor-key-" + "k" * 16


@pytest.fixture
def fresh_cluster() -> Iterator[Server]:
    with private_postgres("restore") as server:
        yield server


def _hub(args: list[str], urls: dict[str, str], redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HUB_ENVIRONMENT": "test",
        "HUB_CORE_DB_URL": urls["core"],
        "HUB_HUB_DB_URL": urls["hub"],
        "HUB_QUERY_DB_URL": urls["query"],
        "HUB_REDIS_URL": redis_url,
        "HUB_AUTH__AUDIT_ANCHOR_KEY": ANCHOR_KEY,
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "hub"), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_dump_restore_then_verify(servers: Servers, fresh_cluster: Server) -> None:
    from core import db as core_db
    from core import seed
    from sync.backfill import backfill

    tag = uuid.uuid4().hex[:8]
    source = {k: servers.pg_url(f"t_drill_{k}_{tag}") for k in ("core", "query", "hub")}
    try:
        core_db.init(source["core"])
        seed.seed(source["core"], persons=30, years=1)
        migrations.upgrade("query", source["query"])
        backfill(source["core"], source["query"])
        migrations.upgrade("hubdb", source["hub"])

        # Traffic that writes audit records (and an anchor at shutdown) into the hub DB.
        settings = Settings(
            environment="test",
            core_db_url=source["core"],
            hub_db_url=source["hub"],
            query_db_url=source["query"],
            redis_url=servers.redis_url,
            sync=SyncSettings(embedded=False),
            auth={"audit_anchor_key": ANCHOR_KEY},
        )
        app = create_app(settings, Endpoints(source["core"], source["hub"], source["query"], servers.redis_url))
        people = cast(load_province(source["core"], source["query"], source["hub"], servers.redis_url))
        with TestClient(app) as client:
            issuer, audience = issuer_audience(app.state)
            keys = app.state.identity.signing_keys()
            token = issue_access_token(people.actors["person_a"], keys, issuer=issuer, audience=audience)
            for path in ("overview", "insurance", "accounts"):
                r = client.get(f"/api/v1/persons/{people.a}/{path}", headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, r.text
        with pg.connect(source["hub"]) as conn:
            row = conn.execute("select count(*) from hub.audit_log").fetchone()
        assert row is not None and typing.cast(int, row[0]) >= 3  # count(): bigint

        # The drill: dump each database, restore into the fresh cluster.
        restored = {k: fresh_cluster.url(f"restored_{k}") for k in source}
        with tempfile.TemporaryDirectory() as d:
            for key, url in source.items():
                dump = Path(d) / f"{key}.dump"
                subprocess.run([str(PG_BIN / "pg_dump"), "-Fc", "-f", str(dump), pg.libpq(url)], check=True)
                pg.ensure_database(restored[key])
                subprocess.run(
                    [str(PG_BIN / "pg_restore"), "--exit-on-error", "--no-owner", "-d", pg.libpq(restored[key]),
                     str(dump)],
                    check=True,
                )  # fmt: skip

        sync_check = _hub(["sync", "verify"], restored, servers.redis_url)
        assert sync_check.returncode == 0, sync_check.stdout + sync_check.stderr
        audit_check = _hub(["audit", "verify"], restored, servers.redis_url)
        assert audit_check.returncode == 0, audit_check.stdout + audit_check.stderr
        assert "审计日志完整" in audit_check.stdout

        # The same check fails on a restored copy that was edited: the drill can tell.
        with pg.connect(restored["hub"]) as conn:
            conn.execute("alter table hub.audit_log disable trigger user")
            conn.execute("update hub.audit_log set purpose = 'edited' where seq = (select min(seq) from hub.audit_log)")
            conn.commit()
        tampered = _hub(["audit", "verify"], restored, servers.redis_url)
        assert tampered.returncode == 1, tampered.stdout
    finally:
        for url in source.values():
            pg.drop_database(url)

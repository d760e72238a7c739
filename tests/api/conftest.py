"""A small seeded province (60 persons, 2 years, backfilled into the query store) and a client factory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import psycopg
import pytest
from fastapi.testclient import TestClient

from gateway.api.auth import issuer_audience
from gateway.app import create_app
from hub import pg
from hub.access.ratelimit import Limit
from hub.access.subject import Subject
from hub.config.crypto import DEV_KEK
from hub.crypto import columns as sealed
from hub.crypto import keys as crypto_keys
from hub.identity.tokens import SigningKeys, issue_access_token
from hub.runtime import Endpoints
from hub.settings import Settings, SyncSettings
from tests.fixtures.servers import Servers

PRODUCTION_AUTH = {
    "issuer": "https://hub.test",
    "code_hmac_key": "test-code-key-" + "x" * 32,
    "key_encryption_key": "test-kek-" + "y" * 32,
    "audit_anchor_key": "test-audit-anchor-" + "z" * 32,
}

PRODUCTION_KEK = "test-data-kek-" + "w" * 32
PRODUCTION_SMS = {"transport": "smpp", "smpp": {"system_id": "hub", "password": "bind-pass-" + "u" * 12}}
PRODUCTION_CERTIFICATES = {"mac_key": "test-cert-mac-" + "v" * 32, "verify_base_url": "https://hub.test/verify"}

GENEROUS = {
    "read": {"subject": Limit(10_000, 10_000)},
    "graphql": {"subject": Limit(10_000, 10_000)},
    "audit": {"subject": Limit(10_000, 10_000)},
}


@dataclass
class Province:
    core_url: str
    query_url: str
    hub_url: str
    redis_url: str
    units: list[dict[str, Any]]  # unit_id, region_code, persons (on the roster)
    persons: dict[int, dict[str, Any]]  # person_id -> person_overview row


@pytest.fixture(scope="session")
def province(servers: Servers) -> Iterator[Province]:
    from core import db as core_db
    from core import seed
    from hub import migrations
    from sync.backfill import backfill

    tag = uuid.uuid4().hex[:10]
    core, query, hub = (servers.pg_url(f"t_{k}_{tag}") for k in ("pcore", "pquery", "phub"))
    migrations.upgrade("hubdb", hub)  # its own migration, not the shared templates: fewer moving parts
    core_db.init(core)
    seed.seed(core, persons=60, years=2)
    migrations.upgrade("query", query)
    backfill(core, query)
    yield load_province(core, query, hub, servers.redis_url)
    for url in (core, query, hub):
        pg.drop_database(url)


def load_province(core: str, query: str, hub: str, redis_url: str) -> Province:
    """The units and persons of a seeded, backfilled store."""
    with pg.connect(query) as conn:
        units = [
            {"unit_id": u, "region_code": r, "persons": list(cast("list[int]", ps))}
            for u, r, ps in conn.execute(
                # People with contributions in the unit and a card first: the matrix needs data to refuse.
                "select u.unit_id, u.region_code, array_agg(r.person_id order by "
                "(exists (select 1 from contribution_month m where m.person_id = r.person_id "
                "and m.unit_id = u.unit_id) and exists (select 1 from card c where c.person_id = r.person_id)) desc, "
                "r.person_id) from unit_overview u join unit_roster r using (unit_id) group by 1, 2 order by 1"
            ).fetchall()
        ]
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        rows = cur.execute("select * from person_overview").fetchall()
        persons = {r["person_id"]: r for r in sealed.reveal(conn, "person_overview", rows)}  # numbers decrypted
    return Province(core, query, hub, redis_url, units, persons)


@dataclass
class Api:
    client: TestClient
    keys: SigningKeys
    issuer: str
    audience: str

    def token(self, subject: Subject) -> str:
        return issue_access_token(subject, self.keys, issuer=self.issuer, audience=self.audience)

    def get(self, subject: Subject | None, path: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if subject is not None:
            headers["Authorization"] = f"Bearer {self.token(subject)}"
        return self.client.get(path, headers=headers, **kw)

    def gql(self, subject: Subject | None, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if subject is not None:
            headers["Authorization"] = f"Bearer {self.token(subject)}"
        return self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


ApiFactory = Callable[..., Any]


@contextmanager
def make_api(
    core_url: str,
    query_url: str,
    hub_url: str,
    redis_url: str,
    *,
    environment: str = "test",
    rate_limits: Any = None,
    consistency_timeout: float = 2.0,
    own_keys: bool = False,
    **settings_extra: Any,
) -> Iterator[Api]:
    """An app over these databases. Tokens are signed with the identity area's live keys (its own
    ``current_subject`` checks them), or with ``own_keys`` by a key set handed to the app directly."""
    settings = Settings(
        environment=environment,
        core_db_url=core_url,
        hub_db_url=hub_url,
        query_db_url=query_url,
        redis_url=redis_url,
        sync=SyncSettings(embedded=False),
        # A Redis prefix of its own: apps share one Redis across tests and runs (daily code caps would add up).
        auth={
            **(PRODUCTION_AUTH if environment == "production" else {}),
            "redis_prefix": f"t:{uuid.uuid4().hex[:10]}:",
        },
        crypto={"kek": PRODUCTION_KEK} if environment == "production" else {},
        certificates=PRODUCTION_CERTIFICATES if environment == "production" else {},
        sms=PRODUCTION_SMS if environment == "production" else {},
        **settings_extra,
    )
    app = create_app(settings, Endpoints(core_url, hub_url, query_url, redis_url))
    app.state.rate_limits = GENEROUS if rate_limits is None else rate_limits
    app.state.consistency_timeout = consistency_timeout
    app.state.audit_anchor_key = b"test audit anchor key"
    if own_keys:
        app.state.signing_keys = SigningKeys.generate()
    kek = settings.crypto.kek.get_secret_value()
    with _data_keys_under(kek, hub_url, query_url), TestClient(app, raise_server_exceptions=False) as client:
        keys = app.state.signing_keys if own_keys else app.state.identity.signing_keys()
        yield Api(client, keys, *issuer_audience(app.state))


@contextmanager
def _data_keys_under(kek: str, hub_url: str, query_url: str) -> Iterator[None]:
    """The databases' data keys moved under ``kek`` while the app lives (as `hub keys rewrap` does before a
    node with that KEK starts: it refuses to start otherwise), then back under the development KEK."""
    if kek == DEV_KEK:
        yield
        return

    def move(old: str, new: str) -> None:
        for url, table in ((hub_url, crypto_keys.HUB_TABLE), (query_url, crypto_keys.QUERY_TABLE)):
            with pg.connect(url) as conn:
                crypto_keys.rewrap(conn, old, new, table)
                conn.commit()

    move(DEV_KEK, kek)
    try:
        yield
    finally:
        move(kek, DEV_KEK)


@pytest.fixture
def api(province: Province) -> Iterator[Api]:
    with make_api(province.core_url, province.query_url, province.hub_url, province.redis_url) as a:
        yield a

"""The authenticated read path: a remembered token is still checked against clock, key set and revocation.

A REST read verifies the token's signature once per process (``hub.identity.tokens.VerifiedTokens``) and
checks revocation inside the rate limiter's script call (``hub.access.ratelimit``): these tests show that
neither shortcut lets a revoked, expired or orphaned token through.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import joserfc.jwt
import redis

from hub import pg
from hub.access.scopes import PERSON_SCOPES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.identity import keys
from hub.identity.tokens import SigningKeys, issue_access_token
from tests.api.conftest import Api, Province


def _person(p: Province, grant_id: str | None = None) -> Subject:
    pid = next(iter(p.persons))
    return Subject(
        SubjectKind.PERSON,
        f"p{pid}-{uuid.uuid4().hex[:8]}",
        "app-12333",
        Channel.APP,
        frozenset(s.value for s in PERSON_SCOPES),
        person_id=pid,
        grant_id=grant_id,
    )


def _read(api: Api, token: str, pid: int) -> int:
    r = api.client.get(f"/api/v1/persons/{pid}/overview", headers={"Authorization": f"Bearer {token}"})
    return int(r.status_code)


def _marker(api: Api, kind: str, value: str, redis_url: str) -> None:
    """What the OAuth server's ``mark_revoked`` writes when a token or grant is revoked."""
    prefix = api.client.app.state.identity.cfg.settings.redis_prefix  # type: ignore[attr-defined]
    with redis.Redis.from_url(redis_url) as r:
        r.set(f"{prefix}revoked:{kind}:{value}", "1", ex=600)


def test_revoked_token_and_grant_refused_on_the_read_path(api: Api, province: Province) -> None:
    subject = _person(province, grant_id=f"g-{uuid.uuid4().hex}")
    pid = subject.person_id
    assert pid is not None
    token, other = api.token(subject), api.token(subject)
    assert _read(api, token, pid) == 200
    assert _read(api, token, pid) == 200  # the second time from the verified-token memory
    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    hits = rt.verified.hits
    assert _read(api, token, pid) == 200 and rt.verified.hits == hits + 1

    jti = joserfc.jwt.decode(token, api.keys.current).claims["jti"]
    _marker(api, "jti", jti, province.redis_url)
    assert _read(api, token, pid) == 401  # this token only
    assert _read(api, other, pid) == 200
    _marker(api, "grant", subject.grant_id or "", province.redis_url)
    assert _read(api, other, pid) == 401  # every token of the grant


def test_remembered_token_expires_with_the_clock(api: Api, province: Province) -> None:
    subject = _person(province)
    pid = subject.person_id
    assert pid is not None
    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    issued = datetime.now(UTC)
    token = issue_access_token(subject, api.keys, issuer=api.issuer, audience=api.audience, now=issued.timestamp())
    try:
        rt.clock = lambda: issued + timedelta(seconds=299)
        assert _read(api, token, pid) == 200
        assert _read(api, token, pid) == 200  # remembered
        rt.clock = lambda: issued + timedelta(seconds=300)  # exp = iat + 300: expired from that second on
        assert _read(api, token, pid) == 401
    finally:
        rt.clock = lambda: datetime.now(UTC)


def test_remembered_token_refused_once_its_key_leaves_the_set(api: Api, province: Province) -> None:
    subject = _person(province)
    pid = subject.person_id
    assert pid is not None
    stranger = SigningKeys.generate()  # a key the hub never published
    forged = issue_access_token(subject, stranger, issuer=api.issuer, audience=api.audience)
    assert _read(api, forged, pid) == 401
    rt = api.client.app.state.identity  # type: ignore[attr-defined]
    token = api.token(subject)
    assert _read(api, token, pid) == 200 and len(rt.verified) >= 1
    # `hub auth rotate-keys` as often as keys are kept: the token's key leaves the set; once this process
    # reloads the set (every minute, here at once) the remembered token is refused too.
    kept = rt.cfg.settings.signing_keys_kept
    with pg.connect(province.hub_url) as conn:
        for _ in range(kept):
            keys.rotate(conn, rt.cfg.kek, datetime.now(UTC), kept)
        conn.commit()
    rt.signing_keys(refresh=True)
    assert _read(api, token, pid) == 401
    assert _read(api, api.token(subject), pid) == 401  # the fixture's keys are gone too
    fresh = issue_access_token(subject, rt.signing_keys(), issuer=api.issuer, audience=api.audience)
    assert _read(api, fresh, pid) == 200


def _lookups(api: Api, cache: str) -> dict[str, float]:
    """``<cache>_lookups_total`` by result and ``<cache>_entries`` from /metrics."""
    found: dict[str, float] = {}
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith(f"{cache}_lookups_total{{"):
            found[line.split('result="', 1)[1].split('"', 1)[0]] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{cache}_entries "):
            found["entries"] = float(line.rsplit(" ", 1)[1])
    return found


def test_metrics_count_the_verified_token_memory(api: Api, province: Province) -> None:
    subject = _person(province)
    pid = subject.person_id
    assert pid is not None
    token = api.token(subject)
    before = _lookups(api, "hub_token_cache")
    assert _read(api, token, pid) == 200  # verified: a miss, then remembered
    assert _read(api, token, pid) == 200  # a hit
    assert _read(api, token, pid) == 200  # a hit
    after = _lookups(api, "hub_token_cache")
    assert after["miss"] - before["miss"] == 1
    assert after["hit"] - before["hit"] == 2
    assert after["entries"] >= 1
    assert set(_lookups(api, "hub_read_cache")) == {"hit", "miss", "entries"}


def test_the_token_memory_is_sized_by_the_settings(province: Province) -> None:
    from gateway.identity.runtime import IdentityRuntime
    from hub.runtime import Endpoints
    from hub.settings import Settings

    urls = (province.core_url, province.hub_url, province.query_url)
    settings = Settings(
        core_db_url=urls[0], hub_db_url=urls[1], query_db_url=urls[2], auth={"verified_token_entries": 2}
    )
    rt = IdentityRuntime.build(settings, Endpoints(*urls, province.redis_url))
    assert rt.verified.max_entries == 2
    keys = SigningKeys.generate()
    tokens = [issue_access_token(_person(province), keys, issuer="https://t", audience="hub") for _ in range(3)]
    for t in tokens:
        rt.verified.verify(t, keys, issuer="https://t")
    assert len(rt.verified) == 2  # the least recently used went
    rt.verified.verify(tokens[0], keys, issuer="https://t")
    assert rt.verified.misses == 4 and rt.verified.hits == 0

"""A steady mixed load for 60 s against a real `hub serve`: zero errors, memory flat.

The mix (from all channels the suite can reach today): REST and GraphQL person reads with app and
portal tokens, unit-roster reads by unit operators, and full unit-operator logins through the login
pages (password, captcha, SMS code). 10 minutes with p99 against the targets is `bench/`'s job.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hub import pg
from hub.config.auth import DEV_KEY_ENCRYPTION_KEY, AuthSettings
from hub.identity import admin, keys
from hub.identity.config import IdentityConfig
from hub.identity.tokens import issue_access_token
from tests.api.actors import cast
from tests.api.conftest import Province
from tests.reliability.report import percentile, record, size
from tests.reliability.servers import hub_serve

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]

SECONDS = size("STEADY_SECONDS", 60.0)  # 600 s in bench/reliability.py
WORKERS = 6
TOKEN_REFRESH_SECONDS = 240.0  # access tokens live 300 s (hub.identity.tokens)
ISSUER = "http://hub.test"
PW = "Steady@2026load"
FIXED_CODE = "246810"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def server(province: Province) -> Iterator[tuple[str, int]]:
    extra = {
        "HUB_AUTH__ISSUER": ISSUER,
        "HUB_AUTH__COOKIE_SECURE": "false",
        "HUB_AUTH__TEST_FIXED_CAPTCHA": "TEST",
        "HUB_AUTH__TEST_FIXED_SMS_CODE": FIXED_CODE,
        "HUB_AUTH__CODE_RESEND_SECONDS": "0",
        "HUB_AUTH__CODE_DAILY_PER_PHONE": "100000",
        "HUB_AUTH__CODE_DAILY_PER_IP": "100000",
        "HUB_AUTH__REDIS_PREFIX": f"steady:{uuid.uuid4().hex[:8]}:",
    }
    with hub_serve(province.core_url, province.hub_url, province.query_url, province.redis_url, **extra) as (port, pid):
        yield f"http://127.0.0.1:{port}", pid


def _operators(province: Province, n: int) -> list[dict[str, Any]]:
    cfg = IdentityConfig.from_settings(AuthSettings())
    made = []
    with pg.connect(province.hub_url) as conn:
        for i in range(n):
            unit = province.units[i % len(province.units)]
            login = f"ld{uuid.uuid4().hex[:6]}"
            phone = f"136{uuid.uuid4().int % 10**8:08d}"
            now = datetime.now(UTC)
            admin.insert_unit_operator(conn, cfg, unit["unit_id"], login, "经办人", phone, PW, False, now, "load")
            made.append({"unit_id": unit["unit_id"], "login": login})
        conn.commit()
    return made


def _hidden(text: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert found, name
    return found.group(1)


async def _login(client: httpx2.AsyncClient, op: dict[str, Any]) -> int:
    form = await client.get("/auth/login?kind=unit_operator")
    csrf = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.text))
    data = {**csrf, "kind": "unit_operator", "unit_code": str(op["unit_id"]), "login": op["login"],
            "password": PW, "captcha": "TEST", "next": ""}  # fmt: skip
    challenge = await client.post("/auth/login", data=data)
    if challenge.status_code != 200:
        return challenge.status_code
    done = await client.post(
        "/auth/login/verify",
        data={**csrf, "ticket": _hidden(challenge.text, "ticket"), "code": FIXED_CODE, "next": "/portal/unit"},
    )
    if done.status_code not in (303,):
        return done.status_code
    page = await client.get("/portal/unit")
    await client.post("/auth/logout", data={"csrf_token": _hidden(page.text, "csrf_token")})
    return page.status_code


async def _load(
    url: str, province: Province, operators: list[dict[str, Any]], seconds: float
) -> tuple[Counter[str], dict[str, list[float]]]:
    people = cast(province)
    with pg.connect(province.hub_url) as conn:
        signing = keys.load(conn, DEV_KEY_ENCRYPTION_KEY)
    assert signing is not None
    # One caller per worker (the per-subject limits are the point of a person's own burst, not of a load test).
    # Access tokens live 5 minutes; like the app with its refresh token, a worker gets a new one before
    # that (the 10-minute run in bench/ outlives the first).
    issued: dict[tuple[str, int], tuple[str, float]] = {}

    def token(name: str, n: int) -> str:
        held = issued.get((name, n))
        if held is None or time.monotonic() - held[1] > TOKEN_REFRESH_SECONDS:
            fresh = issue_access_token(
                replace(people.actors[name], account_id=f"{people.actors[name].account_id}-w{n}"),
                signing,
                issuer=ISSUER,
                audience="hub",
            )
            held = issued[(name, n)] = (fresh, time.monotonic())
        return held[0]

    outcomes: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {}
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        # Each worker stands for many citizens behind the proxy (uvicorn trusts X-Forwarded-For from
        # loopback, as from nginx), so the per-IP limits see a realistic spread of addresses.
        headers = {"X-Forwarded-For": f"10.1.{n}.1"}
        async with httpx2.AsyncClient(base_url=url, timeout=10, follow_redirects=False, headers=headers) as client:
            i = 0
            while time.monotonic() < deadline:
                i += 1
                client.headers["X-Forwarded-For"] = f"10.1.{n}.{i % 250 + 1}"
                kind = ("rest", "graphql", "roster", "login")[(n + i) % 4]
                started = time.monotonic()
                if kind == "rest":
                    r = await client.get(
                        f"/api/v1/persons/{people.a}/overview",
                        headers={"Authorization": f"Bearer {token('person_a', n)}"},
                    )
                    status = r.status_code
                elif kind == "graphql":
                    r = await client.post(
                        "/graphql",
                        json={"query": "query($id: ID!) { person(id: $id) { overview { name } } }",
                              "variables": {"id": str(people.a)}},
                        headers={"Authorization": f"Bearer {token('person_a', n)}"},
                    )  # fmt: skip
                    status = r.status_code if "errors" not in r.json() else 599
                elif kind == "roster":
                    r = await client.get(
                        f"/api/v1/units/{people.x}/roster",
                        headers={"Authorization": f"Bearer {token('operator_x', n)}"},
                    )
                    status = r.status_code
                else:
                    # Each worker logs in its own operators: one person does not log in twice at once.
                    status = await _login(client, operators[(n + WORKERS * i) % len(operators)])
                outcomes[f"{kind}:{status}"] += 1
                latencies.setdefault(kind, []).append(time.monotonic() - started)

    await asyncio.gather(*(worker(n) for n in range(WORKERS)))
    return outcomes, latencies


def test_steady_mixed_load(server: tuple[str, int], province: Province) -> None:
    url, pid = server
    operators = _operators(province, 12)
    warm, _ = asyncio.run(_load(url, province, operators, 5.0))
    assert {k for k in warm if not k.endswith(":200")} == set(), warm
    before = _rss_kib(pid)
    outcomes, latencies = asyncio.run(_load(url, province, operators, SECONDS))
    after = _rss_kib(pid)
    record(
        "steady_load",
        seconds=SECONDS,
        workers=WORKERS,
        outcomes=dict(outcomes),
        rss_kib={"before": before, "after": after},
        latency_s={
            kind: {"n": len(v), "p50": round(percentile(v, 0.5), 4), "p99": round(percentile(v, 0.99), 4)}
            for kind, v in latencies.items()
        },
    )
    errors = {k: v for k, v in outcomes.items() if not k.endswith(":200")}
    assert errors == {}, errors
    assert sum(outcomes.values()) >= 2 * SECONDS  # the load really ran (at least 2 requests a second)
    # Memory flat: after warm-up, a minute of load may not grow the process by more than 32 MiB.
    assert after - before < 32 * 1024, f"RSS grew from {before} KiB to {after} KiB"

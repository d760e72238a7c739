"""The outbox worker's retries: a core API that does not answer leaves the command pending with a doubling
delay, the declaration ``sent``; once the API answers, the command is applied and recorded once."""

from __future__ import annotations

from datetime import timedelta

from hub.declarations import service
from hub.declarations.config import DeclarationSettings
from hub.declarations.outbox import OutboxWorker
from hub.declarations.states import Status
from hub.declarations.types import DeclarationType as T
from hub.outbox_retry import backoff
from tests.declarations import kit
from tests.declarations.conftest import World


def test_backoff_doubles_up_to_the_cap() -> None:
    s = DeclarationSettings(backoff_min_seconds=2.0, backoff_max_seconds=60.0)
    # attempt n waits 2 × 2^(n−1) s, at most 60 s, minus up to 25 % jitter
    for attempts, full in ((1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (40, 60.0)):
        for _ in range(20):
            assert 0.75 * full <= backoff(s, attempts) <= full


def test_unanswered_commands_are_retried_until_the_core_answers(world: World) -> None:
    op, rev = kit.unit_operator(1), kit.reviewer()
    decl = service.create(
        world.hub, world.query, op, T.UNIT_CHANGE, {"address": "经十路100号"}, "r1", submit=True, now=kit.NOW
    )
    service.claim(world.hub, rev, decl.id)
    service.approve(world.hub, rev, decl.id, now=kit.NOW)
    world.hub.commit()
    closed = f"http://127.0.0.1:{kit.free_port()}"  # nothing listens there
    settings = DeclarationSettings(core_api_url=closed, backoff_min_seconds=30.0, request_timeout_seconds=2.0)
    down = OutboxWorker(world.dbs.hub_url, world.dbs.query_url, settings)
    assert down.step() == 1
    row = world.hub.execute(
        "select status, attempts, last_error is not null, next_attempt_at - now() from hub.declaration_command"
    ).fetchone()
    world.hub.rollback()
    assert row is not None
    assert row[:3] == ("pending", 1, True)
    assert timedelta(seconds=22) <= row[3] <= timedelta(seconds=30)  # 30 s minus at most 25 % jitter
    assert service.get(world.hub, op, decl.id).status is Status.SENT
    assert down.step() == 0  # not due yet
    down.close()
    world.hub.execute("update hub.declaration_command set next_attempt_at = now()")
    world.hub.commit()
    with kit.core_api(world.dbs.core_url) as api:
        up = OutboxWorker(world.dbs.hub_url, world.dbs.query_url, DeclarationSettings(core_api_url=api.url))
        assert up.step() == 1
        up.close()
    world.hub.rollback()
    assert service.get(world.hub, op, decl.id).status is Status.APPLIED
    assert world.hub.execute("select status, attempts from hub.declaration_command").fetchone() == ("applied", 2)
    world.sync_round()
    assert world.query.execute("select address from unit_overview where unit_id = 1").fetchone() == ("经十路100号",)

"""The core's command API over real HTTP: idempotent by command id, also when the same command arrives
concurrently; a reused id with other content is refused; a refusal is recorded with its reason."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from hub import pg
from tests.conftest import Databases
from tests.declarations import kit


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url + "/esb/commands",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 (loopback)
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def seeded(dbs: Databases) -> Databases:
    with pg.connect(dbs.core_url) as core:
        kit.seed_core(core)
        core.commit()
    return dbs


def test_concurrent_duplicates_apply_once(seeded: Databases) -> None:
    command: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "type": "person_enrol",
        "unit_id": 2,
        "business_date": "2025-03-10",
        "payload": {"person_id": 4, "start_date": "2025-02-01", "monthly_wage": "8000"},
        "reference": "SB2025031000000001",
    }
    answers: list[tuple[int, dict[str, Any]]] = []
    with kit.core_api(seeded.core_url) as api:
        barrier = threading.Barrier(8)

        def send() -> None:
            barrier.wait()
            answers.append(post(api.url, command))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(a["replayed"] for _, a in answers) == [False] + [True] * 7
        assert {(s, a["status"], a["position"]) for s, a in answers} == {(200, "applied", answers[0][1]["position"])}
        # 2025-02 补收 and 2025-03 for 120 and 116: four rows, once
        with pg.connect(seeded.core_url) as core:
            assert core.execute("select count(*) from core.ac43 where aac001 = 4").fetchone() == (4,)
        # the same id with other content
        status, body = post(api.url, {**command, "payload": {**command["payload"], "monthly_wage": "9000"}})
        assert status == 409 and body["detail"] == "指令编号已使用且内容不同"
        # a refusal: person 4 is now insured; recorded, and the same answer on a retry
        again = {**command, "command_id": str(uuid.uuid4())}
        first = post(api.url, again)
        second = post(api.url, again)
        assert first[1]["status"] == "failed" and first[1]["reason"] == "该人员正在参保缴费，请先由原单位办理停保"
        assert second[1] == {**first[1], "replayed": True}
        # a malformed command is answered 422 by the API and leaves no trace
        status, _ = post(api.url, {"command_id": "not-a-uuid", "type": "x"})
        assert status == 422
        with pg.connect(seeded.core_url) as core:
            assert core.execute("select status, count(*) from core.command_log group by 1 order by 1").fetchall() == [
                ("applied", 1),
                ("failed", 1),
            ]


def test_a_configured_credential_is_required(seeded: Databases) -> None:
    from hub.declarations.config import DeclarationSettings
    from hub.declarations.outbox import CoreClient
    from hub.outbox_retry import Refused

    command = {
        "command_id": str(uuid.uuid4()),
        "type": "unit_change",
        "unit_id": 1,
        "business_date": "2025-03-10",
        "payload": {"address": "经十路1号"},
    }
    with kit.core_api(seeded.core_url, token="s3cret-esb") as api:
        status, body = post(api.url, command)
        assert (status, body["detail"]) == (401, "接口凭证无效")
        with pytest.raises(Refused):
            CoreClient(api.url, 5, "wrong").send(command)
        s = DeclarationSettings(core_api_url=api.url, core_api_token="s3cret-esb")
        reply = CoreClient(s.core_api_url, s.request_timeout_seconds, s.core_api_token).send(command)
        assert (reply.status, reply.result) == ("applied", {"fields": ["address"]})


def test_the_command_log_is_added_to_an_older_core(dbs: Databases) -> None:
    from core import commands

    with pg.connect(dbs.core_url) as core:
        core.execute("drop table core.command_log")
        core.commit()
        commands.ensure_log(core)
        commands.ensure_log(core)  # a second start finds it and changes nothing
        assert core.execute("select count(*) from core.command_log").fetchone() == (0,)
        trigger = core.execute(
            "select count(*) from pg_trigger where tgrelid = 'core.command_log'::regclass and not tgisinternal"
        ).fetchone()
        assert trigger == (0,)  # not a business table: the sync never sees it

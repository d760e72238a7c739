"""The province-wide 个人权益记录 job is prepared by the sms worker, not inside the web request.

Creating it from the workbench returns at once with a job in state 'preparing' and no recipient yet; the
worker's preparation step (``jobs.fill``) adds the persons in batches, each batch with the job's cursor in one
transaction, and the job page shows how many persons it has read; then the job is a draft (counted and
costed) as it was after creation before. Preview and approval are refused while it prepares. A batch that
dies before its commit (played by a rollback) is done again with nothing twice, and even a cursor set back
finds the blind-index key in its way.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hub import pg
from hub.access.subject import StaffRole
from hub.config.sms import SmsSettings
from hub.messaging import sealed
from sms import jobs
from sms.transport import FileTransport
from sms.worker import Worker
from tests.api.conftest import Province
from tests.fixtures.servers import Servers
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit
from tests.sms.helpers import NOON, wait

NEW = "/portal/staff/sms/new"
COST_PER_SEGMENT = Decimal("0.045")


@pytest.fixture(scope="module")
def province(servers: Servers) -> Iterator[Province]:
    with kit.own_province(servers, persons=40) as found:
        yield found


@pytest.fixture
def app(province: Province) -> Iterator[Any]:
    built, _ = make_app(province, test_fixed_captcha="TEST", test_fixed_sms_code=kit.CODE)
    yield built


def expected_recipients(province: Province, regions: list[str] | None) -> dict[str, str]:
    """Phone → name of every person with a 2025 statement and a mobile phone, from the core and the store."""
    with pg.connect(province.query_url) as q:
        with_statement = {
            cast(int, r[0])
            for r in q.execute("select distinct person_id from rights_statement where year = %s", (kit.YEAR,))
        }
    with pg.connect(province.core_url) as core:
        people = core.execute("select aac001, aac067, aac003, aaa027 from core.ac01").fetchall()
    return {
        str(phone): str(name)
        for pid, phone, name, region in people
        if cast(int, pid) in with_statement
        and phone
        and re.fullmatch(r"1[3-9]\d{9}", str(phone))
        and (regions is None or str(region) in regions)
    }


def regions_of(province: Province) -> list[str]:
    return sorted({str(p["region_code"]) for p in province.persons.values()})


def job_row(province: Province, job_id: int) -> dict[str, Any]:
    with pg.connect(province.hub_url) as conn:
        return jobs.get(conn, job_id)


def job_numbers(province: Province, job_id: int) -> list[str]:
    with pg.connect(province.hub_url) as conn:
        return [str(m["recipient"]) for m in sealed.messages(conn, "job_id = %s", (job_id,))]


def fill_once(province: Province, batch: int, *, commit: bool = True) -> jobs.Filled | None:
    with pg.connect(province.hub_url) as conn, pg.connect(province.query_url) as q:
        found = jobs.fill(conn, q, SmsSettings(), batch, commit=commit)
        if not commit:
            conn.rollback()  # the batch dies before its commit
        return found


def clear_jobs(province: Province) -> None:
    with pg.connect(province.hub_url) as conn:
        conn.execute("delete from hub.sms_message where job_id is not null")
        conn.execute("delete from hub.sms_job")
        conn.commit()


def test_creation_returns_at_once_and_the_page_shows_the_preparation(app: Any, province: Province) -> None:
    clear_jobs(province)
    regions = regions_of(province)
    mine = regions[0]
    expected = expected_recipients(province, [mine])
    assert len(expected) > 3, "the seeded province has persons with a phone in the region"
    creator = kit.add_staff(app, province.hub_url, StaffRole.OPERATOR, (mine,))
    reviewer = kit.add_staff(app, province.hub_url, StaffRole.REVIEWER, (mine,))
    with TestClient(app, raise_server_exceptions=False) as client:
        kit.log_in(client, "staff", creator["login"], NEW)
        token = kit.hidden(client.get(NEW).text)["csrf_token"]
        created = client.post(
            f"{NEW}/rights", data={"csrf_token": token, "year": str(kit.YEAR), "region": mine}, follow_redirects=False
        )
        assert created.status_code == 303, created.text
        found = re.fullmatch(r"/portal/staff/sms/(\d+)\?created=1", created.headers["location"])
        assert found is not None
        job_id = int(found.group(1))
        # Back before any recipient exists: the job waits for the worker.
        job = job_row(province, job_id)
        assert (job["status"], job["recipients"], job["prepare_year"], job["prepare_regions"]) == (
            "preparing",
            0,
            kit.YEAR,
            [mine],
        )
        assert job_numbers(province, job_id) == []
        page = client.get(f"/portal/staff/sms/{job_id}?created=1")
        assert page.status_code == 200
        assert "准备收件人名单中" in page.text and "正在后台准备收件人名单" in page.text
        assert "已核对 0 / （统计中） 人" in page.text and 'http-equiv="refresh"' in page.text

        # One batch of 2 persons: the page shows 2 of the persons in the region read.
        first = fill_once(province, 2)
        assert first is not None and (first.job_id, first.finished) == (job_id, False)
        page = client.get(f"/portal/staff/sms/{job_id}")
        total = job_row(province, job_id)["prepare_total"]
        assert total is not None and total >= len(expected)
        assert f"已核对 2 / {total:,} 人" in page.text and f'max="{total}" value="2"' in page.text

        # Preview and approval wait for the preparation.
        with pg.connect(province.hub_url) as conn:
            with pytest.raises(jobs.JobError, match="正在准备中"):
                jobs.preview(conn, job_id, SmsSettings())
            with pytest.raises(jobs.JobError, match="正在准备中"):
                jobs.approve(conn, job_id, reviewer["account_id"])
            conn.rollback()

        while (step := fill_once(province, 2)) is not None and not step.finished:
            pass
        job = job_row(province, job_id)
        assert job["status"] == "draft" and job["prepared"] == total
        assert sorted(job_numbers(province, job_id)) == sorted(expected)
        # The counts and the estimate were summed batch by batch: they equal a preview's.
        with pg.connect(province.hub_url) as conn:
            preview = jobs.preview(conn, job_id, SmsSettings())
            conn.commit()
        assert (
            (job["recipients"], job["segments"])
            == (preview.recipients, preview.segments)
            == (
                len(expected),
                preview.segments,
            )
        )
        assert Decimal(job["cost_estimate"]) == preview.segments * COST_PER_SEGMENT
        page = client.get(f"/portal/staff/sms/{job_id}")
        assert "草稿" in page.text and "示例短信" in page.text and "已核对" not in page.text
    with pg.connect(province.hub_url) as conn:
        jobs.approve(conn, job_id, reviewer["account_id"])
        conn.commit()


def test_a_crash_between_and_inside_batches_resumes_without_duplicates(province: Province) -> None:
    clear_jobs(province)
    expected = expected_recipients(province, None)
    with pg.connect(province.hub_url) as conn:
        job_id = jobs.create_rights_statement(conn, year=kit.YEAR, created_by="op1")
        conn.commit()
    assert fill_once(province, 3) is not None  # one batch committed
    after_first = job_row(province, job_id)
    assert after_first["prepared"] == 3 and len(job_numbers(province, job_id)) == after_first["recipients"]

    # The next batch dies before its commit: nothing of it stays, the cursor did not move.
    assert fill_once(province, 3, commit=False) is not None
    again = job_row(province, job_id)
    assert (again["prepare_after"], again["prepared"], again["recipients"]) == (
        after_first["prepare_after"],
        3,
        after_first["recipients"],
    )
    assert len(job_numbers(province, job_id)) == after_first["recipients"]

    while (step := fill_once(province, 3)) is not None and not step.finished:
        pass
    numbers = job_numbers(province, job_id)
    assert len(numbers) == len(set(numbers)) and set(numbers) == set(expected)
    done = job_row(province, job_id)
    assert (done["status"], done["recipients"]) == ("draft", len(expected))

    # Even a cursor set back to the start adds nobody twice: the (job, blind index) key refuses them.
    with pg.connect(province.hub_url) as conn:
        conn.execute("update hub.sms_job set status = 'preparing', prepare_after = 0 where id = %s", (job_id,))
        conn.commit()
    while (step := fill_once(province, 50)) is not None and not step.finished:
        pass
    assert sorted(job_numbers(province, job_id)) == sorted(numbers)
    assert job_row(province, job_id)["recipients"] == len(expected)


def test_a_year_without_anyone_cancels_the_job_with_a_reason(province: Province) -> None:
    clear_jobs(province)
    with pg.connect(province.hub_url) as conn:
        job_id = jobs.create_rights_statement(conn, year=kit.YEAR - 5, created_by="op1")
        conn.commit()
    step = fill_once(province, 10)
    assert step is not None and step.finished and step.added == 0
    job = job_row(province, job_id)
    assert job["status"] == "cancelled" and "没有留有手机号码的参保人员" in str(job["prepare_note"])


def test_the_worker_prepares_the_job_in_the_background(province: Province, tmp_path: Path) -> None:
    clear_jobs(province)
    expected = expected_recipients(province, None)
    with pg.connect(province.hub_url) as conn:
        job_id = jobs.create_rights_statement(conn, year=kit.YEAR, created_by="op1")
        conn.commit()
    cfg = SmsSettings(transport="file", file_path=tmp_path / "o.jsonl", poll_seconds=0.05, prepare_batch=4)
    worker = Worker(
        province.hub_url, FileTransport(tmp_path / "o.jsonl"), cfg, clock=lambda: NOON, query_db_url=province.query_url
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert wait(lambda: job_row(province, job_id)["status"] == "draft", 120)
    finally:
        stop.set()
        thread.join(60)
    assert not errors
    assert sorted(job_numbers(province, job_id)) == sorted(expected)
    with pg.connect(province.hub_url) as conn:
        states = conn.execute("select distinct status from hub.sms_message where job_id = %s", (job_id,)).fetchall()
    assert states == [("created",)]  # a draft: nothing of it sent


def test_hub_sms_job_rights_returns_at_once_with_a_preparing_job(
    province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.cli
    from gateway.cli_sms import sms_app

    clear_jobs(province)
    settings = SimpleNamespace(sms=SmsSettings())
    endpoints = SimpleNamespace(hub_db_url=province.hub_url, query_db_url=province.query_url)
    monkeypatch.setattr(gateway.cli, "_endpoints", lambda: (settings, endpoints))
    done = CliRunner().invoke(sms_app, ["job", "rights", "--year", str(kit.YEAR), "--by", "op1"])
    assert done.exit_code == 0, done.output
    assert "后台准备" in done.output
    with pg.connect(province.hub_url) as conn:
        rows = conn.execute("select id, status, prepare_year, prepare_regions from hub.sms_job").fetchall()
        (job_id, status, year, regions) = rows[0]
        assert (len(rows), status, year, regions) == (1, "preparing", kit.YEAR, None)  # all 统筹区
        assert conn.execute("select count(*) from hub.sms_message where job_id = %s", (job_id,)).fetchone() == (0,)

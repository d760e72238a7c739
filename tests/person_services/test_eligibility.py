"""待遇资格认证: the cycle from dated parameters, the state on a movable clock with hand-computed dates,
hall certification with an ID-card check (audited with the staff account), the identity-check hook and
the reminders (once per cycle)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub import pg
from hub.config.push import PushSettings
from hub.errors import NotFound, ValidationFailed
from hub.identity import core_lookup
from hub.persons import eligibility
from hub.persons.eligibility import CertState, CheckResult, Cycle
from hub.rules.params import ParameterMissing, ParamRow, RegionParams
from tests.api.conftest import Province
from tests.person_services import kit, pages

CYCLE = Cycle(valid_months=12, remind_days=30, grace_days=60)  # the seeded values (core/seed_data.py)


def at(day: date, hour_utc: int = 1) -> datetime:
    """09:00 in Shanghai on ``day`` (01:00 UTC)."""
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=UTC)


def test_months_are_added_inside_the_month() -> None:
    assert eligibility.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)  # no 29 February in 2025
    assert eligibility.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert eligibility.add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)  # across the year end


def test_states_on_hand_computed_days() -> None:
    # Certified on 2026-03-15 with 12 months: due 2027-03-15, valid until 2027-03-14;
    # reminder 30 days before due: 15 days back to 28 Feb 2027, 15 more → 2027-02-13;
    # grace 60 days after due: 16 days to 31 Mar, 30 to 30 Apr, 14 more → suspended from 2027-05-14.
    anchor = date(2026, 3, 15)
    st = eligibility.status_on(CYCLE, anchor, date(2027, 3, 14))
    assert (st.due_on, st.valid_until, st.remind_from, st.suspend_from) == (
        date(2027, 3, 15), date(2027, 3, 14), date(2027, 2, 13), date(2027, 5, 14),
    )  # fmt: skip
    assert st.state is CertState.CERTIFIED and st.state.label == "已认证"
    assert eligibility.status_on(CYCLE, anchor, date(2027, 3, 15)).state is CertState.DUE
    assert eligibility.status_on(CYCLE, anchor, date(2027, 5, 13)).state is CertState.DUE
    overdue = eligibility.status_on(CYCLE, anchor, date(2027, 5, 14))
    assert overdue.state is CertState.OVERDUE and overdue.state.label == "逾期"


def test_the_cycle_is_a_dated_parameter() -> None:
    rows = (
        ParamRow("CERT_VALID_MONTHS", date(2014, 10, 1), "12"),
        ParamRow("CERT_VALID_MONTHS", date(2026, 1, 1), "6"),
        ParamRow("CERT_REMIND_DAYS", date(2014, 10, 1), "30"),
        ParamRow("CERT_GRACE_DAYS", date(2014, 10, 1), "60"),
    )
    params = RegionParams("430100", param_rows=rows)
    assert eligibility.cycle_from(params, date(2025, 12, 31)) == Cycle(12, 30, 60)
    assert eligibility.cycle_from(params, date(2026, 1, 1)) == Cycle(6, 30, 60)
    with pytest.raises(ParameterMissing):
        eligibility.cycle_from(RegionParams("430100", param_rows=rows[:2]), date(2026, 1, 1))


def test_hall_certification_is_checked_audited_and_moves_the_state(province: Province) -> None:
    retiree = kit.retirees(province)[0]
    officer = kit.staff(retiree.region_code)
    # 2026-03-01 17:00 UTC is already 2026-03-02 01:00 in Shanghai: the certified day is the 2nd.
    certified_at = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    with (
        pg.connect(province.hub_url) as hub,
        pg.connect(province.query_url, autocommit=True) as store,
        core_lookup.read_only(province.core_url) as core,
    ):
        # A wrong name on the card is refused (and audited); nothing is recorded.
        with pytest.raises(ValidationFailed):
            eligibility.certify_at_hall(
                hub, core, store, officer, document_type="01", document_number=retiree.document_number,
                name="不是本人", now=certified_at,
            )  # fmt: skip
        hub.commit()
        # Staff of another 统筹区 get the missing-person answer.
        with pytest.raises(NotFound):
            eligibility.certify_at_hall(
                hub, core, store, kit.staff("439999"), document_type="01",
                document_number=retiree.document_number, name=retiree.name, now=certified_at,
            )  # fmt: skip
        hub.rollback()
        assert eligibility.history(hub, retiree.person_id) == []
        person_id, day = eligibility.certify_at_hall(
            hub, core, store, officer, document_type="01", document_number=retiree.document_number,
            name=retiree.name, now=certified_at,
        )  # fmt: skip
        hub.commit()
        assert (person_id, day) == (retiree.person_id, date(2026, 3, 2))
        # Due 2027-03-02; reminder from 2 − 30 days → 2027-01-31; suspension 2 Mar + 60 days → 2027-05-01.
        states = {
            d: eligibility.status(hub, store, retiree.person_id, at(d))
            for d in (date(2027, 3, 1), date(2027, 3, 2), date(2027, 4, 30), date(2027, 5, 1))
        }
    assert states[date(2027, 3, 1)].state is CertState.CERTIFIED
    assert states[date(2027, 3, 1)].valid_until == date(2027, 3, 1)
    assert states[date(2027, 3, 1)].remind_from == date(2027, 1, 31)
    assert states[date(2027, 3, 2)].state is CertState.DUE
    assert states[date(2027, 4, 30)].state is CertState.DUE
    assert states[date(2027, 5, 1)].state is CertState.OVERDUE
    with pg.connect(province.hub_url) as hub:
        row = hub.execute(
            "select channel, staff_account, certified_on from hub.eligibility_certification where person_id = %s",
            (retiree.person_id,),
        ).fetchone()
    assert row == ("hall", officer.account_id, date(2026, 3, 2))
    results = [(r["actor"], r["channel"], r["result"]) for r in
               kit.audit_rows(province.hub_url, "eligibility.certify", str(retiree.person_id))]  # fmt: skip
    assert (officer.account_id, "hall", "ok") in results
    assert (officer.account_id, "hall", "name_mismatch") in results


def test_a_worker_is_not_certified(province: Province) -> None:
    worker = kit.workers(province)[0]
    with (
        pg.connect(province.hub_url) as hub,
        pg.connect(province.query_url, autocommit=True) as store,
        pytest.raises(eligibility.NotARetiree),
    ):
        eligibility.status(hub, store, worker, at(date(2026, 3, 2)))


class FakeFaceCheckForTests:
    """A FAKE identity check for tests only: passes when the evidence says so. No face service exists here."""

    provider = "fake-face-check-for-tests"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def verify(self, person_id: int, evidence: bytes) -> CheckResult:
        self.seen.append(person_id)
        return CheckResult(evidence == b"same-person", f"FAKE-{person_id}")


def test_identity_check_hook_records_only_a_passed_check(province: Province) -> None:
    retiree = kit.retirees(province)[1]
    me = kit.person(retiree.person_id)
    check = FakeFaceCheckForTests()
    now = at(date(2026, 6, 1))
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        with pytest.raises(eligibility.CheckFailed):
            eligibility.certify_with_check(hub, store, me, check, b"someone-else", now)
        hub.commit()
        assert eligibility.history(hub, retiree.person_id) == []
        assert eligibility.certify_with_check(hub, store, me, check, b"same-person", now) == date(2026, 6, 1)
        hub.commit()
        [record] = eligibility.history(hub, retiree.person_id)
        provider = hub.execute(
            "select provider, reference from hub.eligibility_certification where person_id = %s", (retiree.person_id,)
        ).fetchone()
    assert check.seen == [retiree.person_id, retiree.person_id]
    assert record["channel"] == "identity_check" and provider == (
        "fake-face-check-for-tests",
        f"FAKE-{retiree.person_id}",
    )
    assert [r["result"] for r in kit.audit_rows(province.hub_url, "eligibility.certify", str(retiree.person_id))] == [
        "check_failed", "ok",
    ]  # fmt: skip


def _notices(hub_url: str, person_id: int) -> list[str]:
    with pg.connect(hub_url) as hub:
        return [
            str(r[0])
            for r in hub.execute(
                "select source_key from hub.push_notice where person_id = %s and source_key like 'eligibility:%%' "
                "order by id",
                (person_id,),
            ).fetchall()
        ]


def test_reminders_go_once_per_cycle_from_the_lead_time(province: Province) -> None:
    retiree = kit.retirees(province)[2]
    check = FakeFaceCheckForTests()
    push = PushSettings()
    regions = [retiree.region_code]
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        eligibility.certify_with_check(hub, store, kit.person(retiree.person_id), check, b"same-person",
                                       at(date(2026, 3, 2)))  # fmt: skip
        hub.commit()

        def remind(day: date) -> eligibility.ReminderRun:
            run = eligibility.send_reminders(hub, store, push, at(day), regions)
            hub.commit()
            return run

        # Due 2027-03-02, reminders from 2027-01-31 (30 days before).
        remind(date(2027, 1, 30))
        assert _notices(province.hub_url, retiree.person_id) == []
        remind(date(2027, 1, 31))
        assert _notices(province.hub_url, retiree.person_id) == [f"eligibility:{retiree.person_id}:2027-03-02"]
        again = remind(date(2027, 2, 5))
        assert _notices(province.hub_url, retiree.person_id) == [f"eligibility:{retiree.person_id}:2027-03-02"]
        assert again.already >= 1
        # Certified again on 2027-02-10: the next cycle is due 2028-02-10, nothing to remind the day after.
        eligibility.certify_with_check(hub, store, kit.person(retiree.person_id), check, b"same-person",
                                       at(date(2027, 2, 10)))  # fmt: skip
        hub.commit()
        remind(date(2027, 2, 11))
        assert _notices(province.hub_url, retiree.person_id) == [f"eligibility:{retiree.person_id}:2027-03-02"]
        row = hub.execute(
            "select kind, title from hub.push_notice where source_key = %s",
            (f"eligibility:{retiree.person_id}:2027-03-02",),
        ).fetchone()
    assert row == ("business", "养老待遇资格认证提醒")


def test_status_page_in_plain_words(province: Province) -> None:
    retiree, worker = kit.status_page_retiree(province), kit.workers(province)[7]
    app = pages.app_for(province)
    now = app.state.identity.clock()  # the app's movable clock: 2026-03-02 09:00 in Shanghai
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        eligibility.certify_with_check(hub, store, kit.person(retiree.person_id), FakeFaceCheckForTests(),
                                       b"same-person", now)  # fmt: skip
        hub.commit()
    with TestClient(app, raise_server_exceptions=False) as client:
        pages.as_person(client, province, retiree.person_id, "/portal/me/certification")
        shown = client.get("/portal/me/certification")
        # Certified 2026-03-02, 12 months → due 2027-03-02, valid until the day before.
        assert shown.status_code == 200 and "认证状态：已认证" in shown.text and "2027年3月1日" in shown.text
        assert 'href="/portal/me/certification" aria-current="page"' in shown.text
        pages.as_person(client, province, worker, "/portal/me/certification")
        assert "您目前无需认证" in client.get("/portal/me/certification").text


def test_reminder_command_is_idempotent(province: Province, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, url in (("CORE_DB_URL", province.core_url), ("HUB_DB_URL", province.hub_url),
                      ("QUERY_DB_URL", province.query_url), ("REDIS_URL", province.redis_url)):  # fmt: skip
        monkeypatch.setenv(f"HUB_{name}", url)
    monkeypatch.setenv("HUB_ENVIRONMENT", "test")
    # A retiree certified 12 months less 10 days ago is due in 10 days: inside the 30-day lead time.
    every = kit.retirees(province)
    assert len(every) >= 5, "the other tests certify the first retirees and one more with a phone"
    retiree = every[-1]  # a retiree no other test certifies
    region = retiree.region_code
    today = datetime.now(UTC).astimezone(eligibility.SHANGHAI).date()
    certified = eligibility.add_months(today, -12) + timedelta(days=10)
    with pg.connect(province.hub_url) as hub, pg.connect(province.query_url, autocommit=True) as store:
        eligibility.certify_with_check(hub, store, kit.person(retiree.person_id), FakeFaceCheckForTests(),
                                       b"same-person", at(certified))  # fmt: skip
        hub.commit()
    runs = []
    for _ in range(2):
        out = CliRunner().invoke(cli, ["push", "remind-certification", "--region", region])
        assert out.exit_code == 0, out.output
        runs.append(json.loads(out.output.strip().splitlines()[-1]))
    first, second = runs
    # The second run finds every notice of the first: nothing is sent twice.
    assert first["sent"] >= 1 and second["sent"] == 0
    assert _notices(province.hub_url, retiree.person_id) == [
        f"eligibility:{retiree.person_id}:{eligibility.add_months(certified, 12).isoformat()}"
    ]
    assert second["already"] == first["already"] + first["sent"]
    assert first["regions_without_cycle"] == []

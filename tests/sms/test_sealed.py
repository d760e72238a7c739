"""SMS numbers and personalisation sealed at rest (``hub.messaging.sealed``).

After a broadcast with codes, notices, an opt-out and a reply, no ``hub.sms_*`` row holds a number or a name
in clear (nor their bytes in hex); an envelope copied into another row does not open, and the worker fails
that message instead of sending it anywhere; the per-number and per-prefix limits count by blind index, so
a number written ``+86 138 0000 1111`` or in full-width digits is the same number; plaintext left by the
previous release is sealed by the data step, its opt-out and concatenation counter kept; a key rotation
re-seals the SMS envelopes too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from hub import pg
from hub.config.sms import LimitSettings, SmsSettings
from hub.crypto import columns, ring
from hub.crypto.rotation import HUB, keys_in_use, pending
from hub.crypto.sm import SealBroken
from hub.messaging import outbox, sealed
from hub.messaging.outbox import Priority
from sms import jobs, limits, store
from sms.transport import FileTransport, Incoming
from tests.conftest import Databases
from tests.sms.helpers import all_in, enqueue_many, query, running, wait

NAMES = ("欧阳明", "张三丰", "李四")
BROADCAST = ("13911110001", "13911110002", "13911110003")


def file_settings(tmp_path: Path, **kw: object) -> SmsSettings:
    return SmsSettings(transport="file", file_path=tmp_path / "outbox.jsonl", poll_seconds=0.05, **kw)


def sent_lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def plaintext_in_sms_tables(url: str, needles: list[str]) -> list[str]:
    """Every ``table: needle`` where a row of a ``hub.sms_*`` table holds ``needle`` as text, or its UTF-8
    bytes (a bytea column shows as hex in the row's JSON)."""
    found: list[str] = []
    with pg.connect(url) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'hub' "
                "and table_name like 'sms%%' and table_type = 'BASE TABLE' order by 1"
            )
        ]
        assert {"sms_message", "sms_opt_out", "sms_opt_out_bidx", "sms_concat_ref_bidx"} <= set(tables)
        for table in tables:
            for (value,) in conn.execute(f'select row_to_json(t)::text from hub."{table}" t'):
                row = cast(str, value)  # row_to_json(t)::text
                for needle in needles:
                    if needle in row or needle.encode().hex() in row:
                        found.append(f"{table}: {needle}")
    return found


def rights(phone: str, name: str) -> jobs.Recipient:
    return jobs.Recipient(
        phone,
        {
            "name": name,
            "year": "2025",
            "months": "12",
            "person_amount": "8123.00",
            "to_account": "8123.00",
            "annuity_amount": "4000.00",
        },
    )


def test_no_number_or_name_in_clear_after_a_broadcast(dbs: Databases, tmp_path: Path) -> None:
    with pg.connect(dbs.hub_url) as conn:
        job = jobs.create_rights_statement(
            conn,
            year=2025,
            created_by="op1",
            recipients=[rights(p, n) for p, n in zip(BROADCAST, NAMES, strict=True)] + [rights(BROADCAST[0], "重复")],
        )
        preview = jobs.preview(conn, job, SmsSettings())
        jobs.approve(conn, job, "rev1")
        jobs.start(conn, job)
        outbox.opt_out(conn, "13922220005", "test")
        conn.commit()
    assert preview.recipients == 3  # the repeated number is in the job once
    assert all(sample[:11] in ("139****0001", "139****0002", "139****0003") for sample in preview.samples)
    enqueue_many(dbs.hub_url, ["13922220004"], "verification_code", {"code": "246810"}, priority=Priority.CODE)
    enqueue_many(dbs.hub_url, ["13922220005"], "staff_notice", {"content": "王五您好"}, mandatory=False)
    with pg.connect(dbs.hub_url) as conn:
        store.apply(conn, [Incoming("8613922220006", "TD")])  # a reply that opts out (+86 form)
        conn.commit()
    with running(dbs.hub_url, FileTransport(tmp_path / "outbox.jsonl"), file_settings(tmp_path)):
        assert wait(all_in(dbs.hub_url, {"delivered", "failed"}))
    lines = sent_lines(tmp_path)
    assert sorted(str(line["to"]) for line in lines) == sorted([*BROADCAST, "13922220004"])
    assert all(int(str(line["parts"])) == 2 for line in lines if line["to"] in BROADCAST)  # concatenated
    with pg.connect(dbs.hub_url) as conn:
        refused = sealed.messages(conn, "status = 'failed'")
        assert [(m["recipient"], m["failure_reason"]) for m in refused] == [("13922220005", "opted_out")]
        assert conn.execute("select count(*) from hub.sms_opt_out_bidx").fetchone() == (2,)
        assert conn.execute("select count(*) from hub.sms_concat_ref_bidx").fetchone() == (3,)
        assert conn.execute("select count(*) from hub.sms_message where body is not null").fetchone() == (0,)
    numbers = [*BROADCAST, "13922220004", "13922220005", "13922220006"]
    assert plaintext_in_sms_tables(dbs.hub_url, [*numbers, *NAMES, "王五", "246810"]) == []


def test_a_copied_envelope_does_not_open_and_its_message_fails(dbs: Databases, tmp_path: Path) -> None:
    first, second = enqueue_many(dbs.hub_url, ["13933330001", "13933330002"], "staff_notice", {"content": "通知"})
    with pg.connect(dbs.hub_url) as conn:
        conn.execute(
            "update hub.sms_message set recipient_enc = (select recipient_enc from hub.sms_message where id = %s) "
            "where id = %s",
            (first, second),
        )
        conn.commit()
        row = conn.execute("select recipient_enc from hub.sms_message where id = %s", (second,)).fetchone()
        assert row is not None
        keyring = sealed.for_reading(conn, [cast(bytes, row[0])])  # recipient_enc: bytea
        with pytest.raises(SealBroken):
            sealed.open_recipient(keyring, second, row[0])
        assert sealed.open_recipient(keyring, first, row[0]) == "13933330001"  # in its own row it opens
    with running(dbs.hub_url, FileTransport(tmp_path / "outbox.jsonl"), file_settings(tmp_path)):
        assert wait(all_in(dbs.hub_url, {"delivered", "failed"}))
    assert [line["to"] for line in sent_lines(tmp_path)] == ["13933330001"]  # never to the copied number
    rows = query(dbs.hub_url, "select id, status, failure_reason from hub.sms_message order by id")
    assert rows == [(first, "delivered", None), (second, "failed", "sealed value does not open")]


def test_limits_count_a_number_however_it_is_written(dbs: Databases, tmp_path: Path) -> None:
    # per number: 1 a minute; the same number three ways → the 2nd and 3rd are refused.
    # per prefix: 2 an hour; 1394444 2001, 2002 pass, 2003 (written with dashes) is the 3rd → refused.
    cfg = LimitSettings(per_number_minute=1, per_number_hour=5, per_number_day=10, per_prefix_hour=2, per_ip_hour=100)
    same = ["13800001111", "+86 138 0000 1111", "１３８００００１１１１"]
    block = ["13944442001", "13944442002", "139-4444-2003"]
    enqueue_many(dbs.hub_url, same + block, "verification_code", {"code": "1"}, priority=Priority.CODE)
    with running(dbs.hub_url, FileTransport(tmp_path / "outbox.jsonl"), file_settings(tmp_path, limits=cfg)):
        assert wait(all_in(dbs.hub_url, {"delivered", "failed"}))
    reasons = [r[0] for r in query(dbs.hub_url, "select failure_reason from hub.sms_message order by id")]
    assert reasons == [None, "number_minute", "number_minute", None, None, "prefix_hour"]
    assert sorted(line["to"] for line in sent_lines(tmp_path)) == ["13800001111", "13944442001", "13944442002"]


@pytest.mark.parametrize("in_memory", [False, True])
def test_the_prefix_limit_reads_earlier_attempts_by_blind_index(dbs: Databases, in_memory: bool) -> None:
    # Two codes to 1395555 1001 / 1002 attempted 10 minutes ago; the limit is 2 per prefix per hour, so a third
    # number of the block (1395555 9999) is refused, a number of another block (1395556 1001) is not.
    ids = enqueue_many(
        dbs.hub_url, ["13955551001", "13955551002"], "verification_code", {"code": "1"}, priority=Priority.CODE
    )
    now = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    with pg.connect(dbs.hub_url) as conn:
        conn.execute(
            "update hub.sms_message set status = 'sent', created_at = %s where id = any(%s)",
            (now - timedelta(minutes=10), ids),
        )
        keyring = sealed.for_writing(conn)
        cfg = LimitSettings(per_prefix_hour=2, per_number_minute=5, per_number_hour=5, per_number_day=5)
        check = limits.LimitCheck(cfg, now, prefixes=limits.PrefixWindow() if in_memory else None)
        third, other = "13955559999", "13955561001"
        numbers = [sealed.number_index(keyring, n) for n in (third, other)]
        prefixes = [sealed.prefix_index(keyring, n) for n in (third, other)]
        check.load(conn, numbers, prefixes, [], [])
        assert check.refused(numbers[0], prefixes[0], None) == "prefix_hour"
        assert check.refused(numbers[1], prefixes[1], None) is None
        conn.rollback()


def test_the_data_step_seals_what_the_previous_release_left(dbs: Databases, tmp_path: Path) -> None:
    with pg.connect(dbs.hub_url) as conn:
        conn.execute(
            "insert into hub.sms_message (recipient, template, personalisation, priority, purpose, mandatory, body) "
            "values ('13966660001', 'staff_notice', '{\"content\": \"赵六您好\"}', 1, 'test', false, "
            "'【湖南社保】赵六您好')"
        )
        conn.execute("insert into hub.sms_opt_out (recipient, source) values ('13966660002', 'reply')")
        conn.execute("insert into hub.sms_concat_ref (recipient, last_ref) values ('13966660001', 7)")
        conn.commit()
    needles = ["13966660001", "13966660002", "赵六"]
    assert sorted(plaintext_in_sms_tables(dbs.hub_url, needles)) == sorted(
        ["sms_message: 13966660001", "sms_message: 赵六", "sms_opt_out: 13966660002", "sms_concat_ref: 13966660001"]
    )  # the scan sees plaintext where there is some
    with pg.connect(dbs.hub_url) as conn:
        assert columns.seal_leftovers(conn, HUB) == 3
        assert columns.seal_leftovers(conn, HUB) == 0  # once is enough
        keyring = sealed.for_writing(conn)
        (message,) = sealed.messages(conn)
        assert (message["recipient"], message["personalisation"], message["body"]) == (
            "13966660001",
            {"content": "赵六您好"},
            None,
        )
        ref = conn.execute(
            "select last_ref from hub.sms_concat_ref_bidx where recipient_bidx = %s",
            (sealed.number_index(keyring, "13966660001"),),
        ).fetchone()
        assert ref == (7,)
    assert plaintext_in_sms_tables(dbs.hub_url, needles) == []
    enqueue_many(dbs.hub_url, ["13966660002"], "staff_notice", {"content": "通知"}, mandatory=False)
    with running(dbs.hub_url, FileTransport(tmp_path / "outbox.jsonl"), file_settings(tmp_path)):
        assert wait(all_in(dbs.hub_url, {"delivered", "failed"}))
    assert [line["to"] for line in sent_lines(tmp_path)] == ["13966660001"]  # the opt-out moved with its number
    assert query(dbs.hub_url, "select failure_reason from hub.sms_message order by id") == [(None,), ("opted_out",)]


def test_a_key_rotation_reseals_the_sms_envelopes(dbs: Databases) -> None:
    enqueue_many(dbs.hub_url, ["13977770001", "13977770002"], "staff_notice", {"content": "通知"})
    with pg.connect(dbs.hub_url) as conn:
        before = keys_in_use(conn, sealed.RECIPIENT) | keys_in_use(conn, sealed.PERSONALISATION)
        active, resealed, retired = columns.rotate(conn, HUB)
        assert resealed >= 4  # two recipients, two personalisations (and any other registered hub column)
        assert keys_in_use(conn, sealed.RECIPIENT) == keys_in_use(conn, sealed.PERSONALISATION) == {active}
        assert retired == sorted(before) and active not in before
        keyring = sealed.for_writing(conn)
        assert pending(conn, keyring, sealed.RECIPIENT) == pending(conn, keyring, sealed.PERSONALISATION) == 0
        ring.forget()
        assert [m["recipient"] for m in sealed.messages(conn)] == ["13977770001", "13977770002"]

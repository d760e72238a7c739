"""The worker's fast paths against a real SMPP peer: PDUs written without smpplib, a window of one handled in
one thread, and the 'resend' policy acting during a run."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import smpplib.client
import smpplib.smpp

from hub import pg
from hub.config.sms import SmsSettings
from sms import jobs, text
from sms.smpp import SmppTransport, _deliver_from_smpplib, encode_deliver_sm_resp, encode_submit, parse_deliver_sm
from sms.transport import OutPart
from tests.conftest import Databases
from tests.sms.helpers import enqueue_many, query, running, settings, statuses, wait
from tests.sms.smsc import Smsc

LONG = "您的个人权益记录已更新，请登录个人网上服务平台查看。" * 4 + "𠮷"


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    peer = Smsc().start()
    yield peer
    peer.stop()


@pytest.mark.parametrize(
    ("body", "registered"),
    [("【湖南社保】您的验证码为123456，5分钟内有效。", True), ("【湖南社保】" + LONG, False)],
)
def test_submit_sm_bytes_are_what_smpplib_writes(body: str, registered: bool) -> None:
    wires = text.encode(text.split(body), 7)
    client = smpplib.client.Client("127.0.0.1", 2775, allow_unknown_opt_params=True)  # never connected
    for wire in wires:
        part = OutPart((1, 1), "13912345678", "10690012333", wire.short_message, wire.esm_class, 8, registered, 1, "")
        ours = encode_submit(4242, part)
        pdu = smpplib.smpp.make_pdu(
            "submit_sm",
            client=client,
            source_addr_ton=0,
            source_addr_npi=0,
            source_addr=part.source,
            dest_addr_ton=0,
            dest_addr_npi=1,
            destination_addr=part.destination,
            esm_class=part.esm_class,
            data_coding=8,
            registered_delivery=1 if registered else 0,
            short_message=part.short_message,
        )
        pdu.sequence = 4242
        assert ours == pdu.generate()
    resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
    resp.sequence = 77
    assert encode_deliver_sm_resp(77) == resp.generate()


def test_a_window_of_one_sends_every_part_once_without_a_recorder_thread(dbs: Databases, smsc: Smsc) -> None:
    phones = [f"1380000{i:04d}" for i in range(8)]
    enqueue_many(dbs.hub_url, phones, "verification_code", {"code": "121212"})
    # 【湖南社保】 (6) + 26 × 4 + 𠮷 (2 units) + 。拒收请回复R (7) = 119 UTF-16 units:
    # 2 parts of at most 67, more than the window
    enqueue_many(dbs.hub_url, ["13900000001"], "staff_notice", {"content": LONG})
    cfg = settings(smsc.port, window=1)
    with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg) as worker:
        assert wait(lambda: statuses(dbs.hub_url) == {"delivered": 9})
        assert worker._recorder is None  # outcomes recorded by the claiming thread itself
    counts = smsc.counts()
    assert sum(counts.values()) == 8 + 2 and set(counts.values()) == {1}
    segments = query(dbs.hub_url, "select count(*) from hub.sms_segment where status = 'delivered'")
    assert segments[0][0] == 10


def _job(url: str, policy: str, phones: list[str]) -> int:
    csv = "phone,content\n" + "".join(f"{p},年度缴费基数申报已开始\n" for p in phones)
    with pg.connect(url) as conn:
        job = jobs.create_from_upload(
            conn, title="通知", template="staff_notice", data=csv, created_by="op1", unknown_policy=policy
        )
        jobs.preview(conn, job, SmsSettings())
        jobs.approve(conn, job, "rev1")
        jobs.start(conn, job)
        conn.commit()
    return job


@pytest.mark.parametrize(("policy", "unknown"), [("resend", 0), ("hold", 3)])
def test_the_unknown_policy_acts_during_a_run(dbs: Databases, smsc: Smsc, policy: str, unknown: int) -> None:
    smsc.hold(3)  # the first three submits are never answered: unknown after the response timeout
    phones = [f"1370000{i:04d}" for i in range(10)]
    job = _job(dbs.hub_url, policy, phones)
    cfg = settings(smsc.port, response_timeout=1.0, window_start="00:00", window_end="00:00")
    with running(dbs.hub_url, SmppTransport(cfg.smpp), cfg) as worker:
        assert wait(lambda: query(dbs.hub_url, "select status from hub.sms_job where id = %s", job)[0][0] == "done")
        expected = {"delivered": 10 - unknown, **({"unknown": unknown} if unknown else {})}
        assert wait(lambda: statuses(dbs.hub_url) == expected)
        assert worker.stats.recovered_unknown == 0  # nothing came from a restart: all within this run
        assert worker.stats.resent_unknown == 3 - unknown
    events = query(dbs.hub_url, "select (detail->>'messages')::int from hub.sms_event where kind = 'resend_unknown'")
    assert sum(int(r[0]) for r in events) == 3 - unknown
    # the held submits were never accepted by the SMSC, so a resend is no duplicate there
    counts = smsc.counts()
    assert sum(counts.values()) == 10 - unknown and set(counts.values()) == {1}


@pytest.mark.parametrize(
    "fields",
    [
        # a receipt in text form with its TLVs (what the test SMSC sends)
        {
            "source_addr": "13912345678",
            "destination_addr": "10690012333",
            "esm_class": 0x04,
            "short_message": b"id:0000abcd sub:001 dlvrd:001 submit date:2611281200 done date:2611281200 stat:DELIVRD "
            b"err:000 text:",
            "receipted_message_id": "0000abcd",
            "message_state": 2,
        },
        # text form only, a failed one
        {"source_addr": "13912345678", "esm_class": 0x04, "short_message": b"id:77 stat:UNDELIV err:001"},
        # a reply from a phone (UCS-2), no TLVs
        {"source_addr": "13800001111", "esm_class": 0, "data_coding": 8, "short_message": "退订".encode("utf-16-be")},
        # the text in message_payload, an unknown-to-us TLV before the ones read
        {
            "source_addr": "13800001111",
            "esm_class": 0,
            "short_message": b"",
            "message_payload": b"TD",
            "user_message_reference": 9,
        },
    ],
)
def test_deliver_sm_read_without_smpplib_matches_smpplib(fields: dict[str, object]) -> None:
    client = smpplib.client.Client("127.0.0.1", 2775, allow_unknown_opt_params=True)  # never connected
    pdu = smpplib.smpp.make_pdu("deliver_sm", client=client, **fields)
    pdu.sequence = 31337
    raw = pdu.generate()
    ours = parse_deliver_sm(raw)
    theirs = _deliver_from_smpplib(smpplib.smpp.parse_pdu(raw, client=client, allow_unknown_opt_params=True))
    if "message_payload" in fields:  # smpplib leaves the payload in its own attribute; ours reads it as the text
        assert ours.short_message == fields["message_payload"] and theirs.short_message == b""
        theirs = dataclasses.replace(theirs, short_message=ours.short_message)
    assert ours == theirs
    assert ours.sequence == 31337 and ours.source_addr == fields["source_addr"]
    assert ours.esm_class == fields["esm_class"]
    assert ours.receipted_message_id == fields.get("receipted_message_id")
    assert ours.message_state == fields.get("message_state")


def test_a_malformed_deliver_sm_is_refused_by_the_fast_reader() -> None:
    client = smpplib.client.Client("127.0.0.1", 2775, allow_unknown_opt_params=True)
    raw = smpplib.smpp.make_pdu("deliver_sm", client=client, source_addr="1", short_message=b"hello").generate()
    with pytest.raises(ValueError):
        parse_deliver_sm(raw[:-3] + raw[-3:-1])  # the length in the header no longer matches
    cut = bytearray(raw[:-2])
    cut[0:4] = len(cut).to_bytes(4, "big")  # consistent header, short_message cut
    with pytest.raises(ValueError):
        parse_deliver_sm(bytes(cut))

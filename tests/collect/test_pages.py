"""The pages: the public online collection (captcha, SMS code to the contact phone, the form checked as a
whole, preview, one submission per session), the workbench's import of a package (preview, refusal of a
changed package, confirm), and the offline version's form on its own SQLite file with the export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.cli import app as cli
from hub import pg
from hub.access.subject import StaffRole
from hub.collect import keys, package, rows, sm2
from hub.collect.local import LocalStore
from hub.declarations import records
from portal_web.collect import local_app
from tests.collect.conftest import collection
from tests.declarations import kit as dkit
from tests.declarations.conftest import World
from tests.identity.oauthkit import make_app
from tests.portal_staff import kit
from tests.portal_staff.kit import CODE, hidden


def _form_fields(payload: dict[str, Any]) -> dict[str, str]:
    unit = {k: v for k, v in payload["unit"].items() if k != "contact_phone"}
    return unit | {
        "staff": rows.text_of(payload["staff"], rows.STAFF_COLUMNS),
        "retirees": rows.text_of(payload["retirees"], rows.RETIREE_COLUMNS),
    }


@pytest.fixture
def app(world: World) -> Iterator[Any]:
    made, _ = make_app(world.dbs, test_fixed_captcha="TEST", test_fixed_sms_code=CODE)
    yield made


def test_online_collection(world: World, app: Any) -> None:
    payload = collection()
    phone = payload["unit"]["contact_phone"]
    with TestClient(app) as client:
        # No verified session: the form sends the visitor to the start page.
        assert client.get("/portal/collect/form", follow_redirects=False).headers["location"] == "/portal/collect"
        start = client.get("/portal/collect")
        assert start.status_code == 200 and "图形验证码" in start.text and 'alt="图形验证码' in start.text
        wrong = client.post("/portal/collect", data={**hidden(start.text), "phone": phone, "captcha": "NOPE"})
        assert wrong.status_code == 400 and "图形验证码" in wrong.text
        bad_phone = client.post("/portal/collect", data={**hidden(start.text), "phone": "12345", "captcha": "TEST"})
        assert bad_phone.status_code == 422 and "11位手机号码" in bad_phone.text
        sent = client.post("/portal/collect", data={**hidden(start.text), "phone": phone, "captcha": "TEST"})
        assert sent.status_code == 200, sent.text
        assert phone not in sent.text and phone[:3] in sent.text  # shown masked
        wrong_code = client.post("/portal/collect/verify", data={**hidden(sent.text), "code": "000000"})
        assert wrong_code.status_code in (400, 422) and "验证码" in wrong_code.text
        verified = client.post(
            "/portal/collect/verify", data={**hidden(sent.text), "code": CODE}, follow_redirects=False
        )
        assert verified.status_code == 303 and verified.headers["location"] == "/portal/collect/form"
        form = client.get("/portal/collect/form")
        assert form.status_code == 200 and "已验证" in form.text and "370102" in form.text

        # Everything wrong is listed at once, by row and field; nothing is written.
        wrong_wage = collection()
        wrong_wage["staff"][0]["monthly_wage"] = "-5"
        broken = _form_fields(wrong_wage)
        broken["staff"] += "\n1,2,3"
        broken["uscc"] = "123"
        refused = client.post("/portal/collect/form", data={**hidden(form.text), **broken})
        assert refused.status_code == 422
        assert "在职人员第3行应有6至8项，实有3项" in refused.text
        fixed_lines = _form_fields(wrong_wage) | {"uscc": "123"}
        refused = client.post("/portal/collect/form", data={**hidden(form.text), **fixed_lines})
        assert refused.status_code == 422
        assert "单位信息统一社会信用代码" in refused.text and "在职人员第1行月缴费工资" in refused.text
        assert world.hub.execute("select count(*) from hub.declaration").fetchone() == (0,)
        world.hub.rollback()

        preview = client.post("/portal/collect/form", data={**hidden(form.text), **_form_fields(payload)})
        assert preview.status_code == 200, preview.text
        assert "陈一" in preview.text and "10000.00" in preview.text and "确认提交" in preview.text
        # Without the CSRF token the submit is refused.
        assert client.post("/portal/collect/submit", data={}).status_code == 403
        done = client.post("/portal/collect/submit", data=hidden(preview.text))
        assert done.status_code == 200, done.text
        reference = re.search(r"<dd>(SB\d{16})</dd>", done.text)
        assert reference is not None and "已提交" in done.text
        again = client.post("/portal/collect/submit", data=hidden(preview.text))
        assert reference is not None and reference.group(1) in again.text
    stored = [  # the payload is sealed at rest: opened through the records
        (d.unit_id, d.region_code, d.type.value, d.payload, d.status.value)
        for (n,) in world.hub.execute("select id from hub.declaration").fetchall()
        if (d := records.fetch(world.hub, int(n))) is not None
    ]
    world.hub.rollback()
    assert len(stored) == 1
    unit_id, region, kind, body, status = stored[0]
    assert (unit_id, region, kind, status) == (0, dkit.REGION, "unit_collect", "submitted")
    assert body == package.canonical(payload)  # the verified number is the contact phone


def test_workbench_import(world: World, app: Any, tmp_path: Path) -> None:
    kek = app.state.settings.crypto.kek.get_secret_value()
    with pg.connect(world.dbs.hub_url) as conn:
        public = keys.create(conn, kek, created_by="t", now=dkit.NOW)
        conn.commit()
    data = package.build(collection(), agency_public_key=public.public_key, unit_key=sm2.generate())
    changed = bytearray(data)
    changed[len(data) // 2] ^= 0x04
    operator = kit.add_staff(app, world.dbs.hub_url, StaffRole.OPERATOR, (dkit.REGION,), "经办员")
    with TestClient(app) as client:
        kit.log_in(client, "staff", operator["login"], "/portal/staff")
        form = client.get("/portal/staff/collect/import")
        assert form.status_code == 200 and "数据采集包" in form.text
        token = hidden(form.text)
        refused = client.post(
            "/portal/staff/collect/import", data=token, files={"package": ("x.hubcollect", bytes(changed))}
        )
        assert refused.status_code == 422 and package.TAMPERED in refused.text
        foreign = package.build(collection(), agency_public_key=sm2.generate().public_key, unit_key=sm2.generate())
        refused = client.post("/portal/staff/collect/import", data=token, files={"package": ("x", foreign)})
        assert refused.status_code == 422 and package.FOREIGN in refused.text
        shown = client.post("/portal/staff/collect/import", data=token, files={"package": ("x", data)})
        assert shown.status_code == 200, re.findall(r"<li class=\"bad\">([^<]*)", shown.text)
        assert "陈三" in shown.text and "单位签名公钥指纹" in shown.text and "确认导入" in shown.text
        assert world.hub.execute("select count(*) from hub.declaration").fetchone() == (0,)
        world.hub.rollback()
        confirmed = client.post("/portal/staff/collect/confirm", data=hidden(shown.text), follow_redirects=False)
        assert confirmed.status_code == 303
        assert re.fullmatch(r"/portal/staff/declarations/\d+", confirmed.headers["location"])
        # The workbench shows it like any declaration: in the queue and with what it would create.
        queue = client.get("/portal/staff")
        assert queue.status_code == 200 and "单位参保登记（数据采集）" in queue.text
        detail = client.get(confirmed.headers["location"])
        assert detail.status_code == 200, detail.text
        assert "新登记单位" in detail.text and "历下区档案馆" in detail.text and "离退休人员 陈三" in detail.text
    row = world.hub.execute("select type, status, created_by from hub.declaration").fetchone()
    world.hub.rollback()
    assert row == ("unit_collect", "submitted", operator["account_id"])


PASSPHRASE = "本机口令-offline-2026"


def test_offline_version_and_export(tmp_path: Path) -> None:
    db = tmp_path / "unit.sqlite"
    payload = collection()
    store = LocalStore(db)
    store.unlock(PASSPHRASE)
    with TestClient(local_app(store), base_url="http://127.0.0.1") as client:
        form = client.get("/")
        assert form.status_code == 200 and "单机版" in form.text and "大字体" in form.text
        fields = _form_fields(payload) | {"contact_phone": payload["unit"]["contact_phone"]}
        bad = client.post("/", data={**hidden(form.text), **fields, "retirees": "1,2"})
        assert bad.status_code == 422 and "离退休人员第1行应有4至6项，实有2项" in bad.text
        assert LocalStore(db).load() is None  # nothing saved from a refused form
        assert client.post("/", data={**fields}).status_code == 403  # CSRF
        saved = client.post("/", data={**hidden(form.text), **fields})
        assert saved.status_code == 200, saved.text
        assert store.unit_key_fingerprint() in saved.text
        again = client.get("/")
        assert "陈一" in again.text  # the saved collection is shown again
    assert LocalStore(db).load() == package.canonical(payload)

    agency = sm2.generate()
    key_file = tmp_path / "agency.pub"
    key_file.write_text(keys.PublicKey("x", agency.public_key, dkit.NOW).text(), encoding="utf-8")
    out = tmp_path / "unit.hubcollect"
    result = CliRunner().invoke(
        cli,
        ["collect", "export", "--db", str(db), "--agency-key", str(key_file), "--out", str(out)],
        env={"HUB_COLLECT_PASSPHRASE": PASSPHRASE},
    )
    assert result.exit_code == 0, result.output
    opened = package.open_package(out.read_bytes(), [(agency.public_key, agency.private_key)])
    assert opened.payload == package.canonical(payload)
    assert opened.unit_key_fingerprint == LocalStore(db).public_key_fingerprint()
    empty = CliRunner().invoke(
        cli,
        ["collect", "export", "--db", str(tmp_path / "new.sqlite"), "--agency-key", str(key_file), "--out", str(out)],
    )
    assert empty.exit_code != 0


def test_public_posts_are_rate_limited_per_ip(app: Any) -> None:
    import uuid

    from hub.access.ratelimit import Limit, RateLimiter

    with TestClient(app) as client:
        # A limiter of its own (the default one's keys are shared by every test posting from "testclient").
        app.state.collect_limiter = RateLimiter(
            app.state.redis, {"collect": {"ip": Limit(rate=1 / 60, burst=3)}}, prefix=f"rl:t:{uuid.uuid4().hex}"
        )
        answers = [client.post("/portal/collect", data={}).status_code for _ in range(6)]
        assert answers[:3] == [403, 403, 403]  # admitted (then refused by the CSRF check)
        assert 429 in answers[3:]
        limited = client.post("/portal/collect", data={})
        assert limited.status_code == 429 and "操作过于频繁" in limited.text and int(limited.headers["Retry-After"]) > 0

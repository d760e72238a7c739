"""A previewed batch kept in Redis between the pages is sealed: no ID number in the stored value, and it opens
only under its own key for its own unit. A value copied under another token, changed, or written in plain by
an earlier release reads as an expired preview (the page's "预览已过期" message, never a 500) and creates
nothing; the original token still submits."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date
from typing import Any

import redis
from fastapi.testclient import TestClient

from hub import pg
from hub.config.crypto import DEV_KEK
from hub.crypto import keys
from hub.crypto.fields import key_id_of
from hub.ids import make_id_number
from portal_web import uploads
from portal_web.unit_staff import AREA
from tests.api.conftest import Province
from tests.portal_unit_staff.conftest import Login, hidden
from tests.portal_unit_staff.support import declarations


def _fresh(sex: str, birth: date) -> str:
    while True:
        number = make_id_number("110102", birth, uuid.uuid4().int % 499, sex)
        if number[17] != "X":
            return number


def _csrf(client: TestClient) -> dict[str, str]:
    page = client.get("/portal/unit/staff/batch/register")
    assert page.status_code == 200
    return {k: v for k, v in hidden(page.text).items() if k == "csrf_token"}


def _preview(client: TestClient, numbers: list[str]) -> str:
    """Upload a clean registration file of ``numbers``; returns the preview's token."""
    from openpyxl import load_workbook

    template = client.get("/portal/unit/staff/batch/register/template.xlsx")
    wb = load_workbook(io.BytesIO(template.content))
    ws = wb.active
    assert ws is not None
    for r, number in enumerate(numbers, start=2):
        birth = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
        sex = "男" if int(number[16]) % 2 else "女"
        phone = f"138{uuid.uuid4().int % 10**8:08d}"
        values: list[str | int]
        values = [number, "测试", sex, "汉族", birth, "2014-07-01", phone, "公务员", "2025-01-01", 7200]
        for c, value in enumerate(values, start=1):
            ws.cell(r, c).value = value
    out = io.BytesIO()
    wb.save(out)
    clean = client.post(
        "/portal/unit/staff/batch/register/upload",
        data=_csrf(client),
        files={"file": ("register.xlsx", out.getvalue(), "application/octet-stream")},
    )
    assert clean.status_code == 200, clean.text
    return hidden(clean.text)["token"]


def _submit(client: TestClient, token: str) -> Any:
    return client.post(
        "/portal/unit/staff/batch/register/submit",
        data={**_csrf(client), "token": token},
        follow_redirects=False,
    )


def _key(token: str) -> str:
    return f"hub:portal:{AREA}:{token}"


def test_the_kept_preview_is_sealed_and_opens_only_where_it_was_kept(login: Login, province: Province) -> None:
    unit_id = province.units[1]["unit_id"]
    client = login(unit_id)
    a, b = _fresh("1", date(1990, 4, 2)), _fresh("2", date(1992, 8, 15))
    token = _preview(client, [a, b])
    store = redis.Redis.from_url(province.redis_url)
    try:
        raw = store.get(_key(token))
        assert isinstance(raw, bytes) and 0 < store.ttl(_key(token)) <= uploads.TOKEN_SECONDS
        # An envelope under the hub DB's active data key; neither number is in it, in any spelling.
        with pg.connect(province.hub_url) as hub:
            keyring = keys.load(hub, DEV_KEK)
        assert keyring is not None and key_id_of(raw) == keyring.active_id
        for number in (a, b):
            assert number.encode() not in raw and number.encode().hex().encode() not in raw
        kept = uploads.open_value(keyring, AREA, token, unit_id, raw)
        assert kept is not None and {p["id_number"] for p in kept["payloads"]} == {a, b}
        # Bound to the area, the token and the unit: anywhere else it does not open.
        assert uploads.open_value(keyring, "wage", token, unit_id, raw) is None
        assert uploads.open_value(keyring, AREA, token + "x", unit_id, raw) is None
        assert uploads.open_value(keyring, AREA, token, unit_id + 1, raw) is None

        before = len(declarations(province, unit_id, "person_register"))
        # Copied under another token (as a stolen or guessed key would be): an expired preview, nothing made.
        other = "copied" + uuid.uuid4().hex[:12]
        store.set(_key(other), raw, ex=60)
        copied = _submit(client, other)
        assert copied.status_code == 422 and "预览已过期，请重新上传文件" in copied.text
        # Changed in place: the same.
        store.set(_key(token), raw[:-1] + bytes([raw[-1] ^ 1]), ex=60)
        changed = _submit(client, token)
        assert changed.status_code == 422 and "预览已过期" in changed.text
        # A plaintext value as the previous release kept it: read as expired too.
        plain = json.dumps({"unit": unit_id, "kind": "register", "payloads": kept["payloads"]})
        store.set(_key(other), plain, ex=60)
        old = _submit(client, other)
        assert old.status_code == 422 and "预览已过期" in old.text
        assert client.get(f"/portal/unit/staff/batch/annotated/{other}").status_code == 404
        assert len(declarations(province, unit_id, "person_register")) == before

        # The value as it was kept submits: every row a declaration.
        store.set(_key(token), raw, ex=60)
        sent = _submit(client, token)
        assert sent.status_code == 303, sent.text
        made = declarations(province, unit_id, "person_register")
        assert len(made) == before + 2
        assert {m["payload"]["id_number"] for m in made[-2:]} == {a, b}
    finally:
        store.close()


def test_another_unit_cannot_use_the_token(login: Login, province: Province) -> None:
    mine, theirs = province.units[1]["unit_id"], province.units[0]["unit_id"]
    token = _preview(login(mine), [_fresh("1", date(1989, 1, 23))])
    other = login(theirs)
    before = len(declarations(province, theirs, "person_register"))
    refused = _submit(other, token)
    assert refused.status_code == 422 and "预览已过期" in refused.text
    assert len(declarations(province, theirs, "person_register")) == before

"""Version check per platform: the service's rules, the staff write, the public endpoint and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from hub import pg
from hub.access.subject import StaffRole
from hub.content import versions
from hub.content.versions import Platform, Update, VersionRead
from hub.errors import NotFound, ValidationFailed
from tests.api.conftest import Api, Province
from tests.conftest import Databases
from tests.mobile_api.conftest import staff

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
ROW = VersionRead(
    platform=Platform.ANDROID, latest="3.2.0", minimum="3.0.5", download_url="https://app.example/a.apk", notes="修复"
)


@pytest.mark.parametrize(
    ("current", "update"),
    [
        ("2.9.9", Update.FORCED),  # below the minimum 3.0.5
        ("3.0.4", Update.FORCED),
        ("3.0.5", Update.OPTIONAL),  # exactly the minimum: still served, a newer one exists
        ("3.1.12", Update.OPTIONAL),  # numeric, not textual: 3.1.12 < 3.2.0
        ("3.2", Update.NONE),  # 3.2 == 3.2.0
        ("3.2.0", Update.NONE),
        ("3.10.0", Update.NONE),  # 10 > 2 numerically (textually "3.10" < "3.2")
    ],
)
def test_check_cases(current: str, update: Update) -> None:
    result = versions.check(ROW, current)
    assert result.update is update
    assert result.forced is (update is Update.FORCED)
    assert result.current == current


@pytest.mark.parametrize("bad", ["", "v3.2", "3..2", "3.2.1.4.5", "3.2-beta", "１.２", "3.2\n"])
def test_malformed_version_is_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed, match="版本号格式不正确"):
        versions.check(ROW, bad)


def test_set_version_rules_and_audit(dbs: Databases) -> None:
    admin = staff(StaffRole.SYSTEM_ADMIN)
    with pg.connect(dbs.hub_url) as conn:
        with pytest.raises(NotFound):  # another role: refused (rendered as not found)
            versions.set_version(
                conn, staff(StaffRole.OPERATOR), platform=Platform.IOS, latest="1.0", minimum="1.0",
                download_url="https://x.example/", now=NOW,
            )  # fmt: skip
        with pytest.raises(ValidationFailed, match="最低支持版本不能高于最新版本"):
            versions.set_version(
                conn, admin, platform=Platform.IOS, latest="1.0", minimum="1.1", download_url="https://x.example/",
                now=NOW,
            )  # fmt: skip
        with pytest.raises(ValidationFailed, match="https"):
            versions.set_version(
                conn, admin, platform=Platform.IOS, latest="1.1", minimum="1.0", download_url="http://x.example/",
                now=NOW,
            )  # fmt: skip
        versions.set_version(
            conn, admin, platform=Platform.IOS, latest="1.1", minimum="1.0", download_url="https://x.example/",
            notes="首发", now=NOW,
        )  # fmt: skip
        versions.set_version(
            conn, admin, platform=Platform.IOS, latest="1.2", minimum="1.1", download_url="https://x.example/",
            now=NOW,
        )  # fmt: skip
        conn.commit()
        rows = versions.list_versions(conn)
        assert [(r.platform, r.latest, r.minimum) for r in rows] == [(Platform.IOS, "1.2", "1.1")]
        audited = conn.execute(
            "select actor, target_id from hub.audit_log where action = 'app.version.set' order by at, seq"
        ).fetchall()
    assert audited == [(admin.account_id, "ios:1.1:1.0"), (admin.account_id, "ios:1.2:1.1")]


def test_version_endpoint(api: Api, province: Province) -> None:
    with pg.connect(province.hub_url) as conn:
        versions.set_version(conn, staff(StaffRole.SYSTEM_ADMIN), now=NOW, **ROW.model_dump())
        conn.commit()
    r = api.get(None, "/app/v1/version", params={"platform": "android", "current": "3.0.0"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["update"] == "forced" and body["forced"] is True
    assert body["download_url"] == "https://app.example/a.apk"
    assert body["latest"] == "3.2.0" and body["minimum"] == "3.0.5"
    r = api.get(None, "/app/v1/version", params={"platform": "android", "current": "3.2.0"})
    assert r.json()["update"] == "none"
    r = api.get(None, "/app/v1/version", params={"platform": "android", "current": "三点二"})
    assert r.status_code == 422 and r.json()["code"] == "INVALID_REQUEST"
    r = api.get(None, "/app/v1/version", params={"platform": "symbian", "current": "1.0"})
    assert r.status_code == 422


def test_platform_without_a_row_is_not_found(api: Api, province: Province) -> None:
    with pg.connect(province.hub_url) as conn:
        conn.execute("delete from hub.app_version where platform = 'harmony'")
        conn.commit()
    r = api.get(None, "/app/v1/version", params={"platform": "harmony", "current": "1.0"})
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"
    assert r.json()["detail"] == "该平台暂无版本信息"


def test_cli_sets_and_lists(dbs: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.cli import app

    for name, url in (
        ("HUB_CORE_DB_URL", dbs.core_url),
        ("HUB_HUB_DB_URL", dbs.hub_url),
        ("HUB_QUERY_DB_URL", dbs.query_url),
        ("HUB_REDIS_URL", dbs.redis_url),
    ):
        monkeypatch.setenv(name, url)
    runner = CliRunner()
    args = ["app", "version", "set", "--platform", "harmony", "--latest", "2.0.1", "--minimum", "2.0.0"]
    done = runner.invoke(app, [*args, "--url", "https://app.example/h.app", "--notes", "鸿蒙版"])
    assert done.exit_code == 0, done.output
    refused = runner.invoke(app, [*args[:-2], "--minimum", "9.0", "--url", "https://app.example/h.app"])
    assert refused.exit_code == 2
    assert "最低支持版本不能高于最新版本" in refused.output
    listed = runner.invoke(app, ["app", "version", "list"])
    assert "harmony" in listed.output and "2.0.1" in listed.output
    with pg.connect(dbs.hub_url) as conn:
        row = conn.execute(
            "select latest, minimum, updated_by from hub.app_version where platform = 'harmony'"
        ).fetchone()
    assert row is not None and row[:2] == ("2.0.1", "2.0.0") and str(row[2]).startswith("cli:")

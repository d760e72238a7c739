"""Production refuses the development SMS transports and an SMPP bind without a real password."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from hub.config.sms import SmppSettings, SmsSettings
from tests.conftest import Databases
from tests.sms.helpers import query

PROD_OK: dict[str, Any] = {
    "transport": "smpp",
    "smpp": SmppSettings(host="smsc.example.gov.cn", system_id="hub12333", password=SecretStr("Kq7#w2-bind-secret")),
}


def test_production_settings_with_a_real_bind_pass() -> None:
    SmsSettings(**PROD_OK).check_environment("production")


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"transport": "file"}, "HUB_SMS__TRANSPORT=file"),
        ({"transport": "console"}, "HUB_SMS__TRANSPORT=console"),
        ({"file_path": Path("/tmp/outbox.jsonl")}, "HUB_SMS__FILE_PATH"),
        ({"smpp": SmppSettings(host="smsc.example.gov.cn", system_id="hub12333")}, "HUB_SMS__SMPP__PASSWORD"),
        (
            {"smpp": SmppSettings(system_id="hub12333", password=SecretStr("  "))},
            "HUB_SMS__SMPP__PASSWORD",
        ),
        ({"smpp": SmppSettings(system_id="hub", password=SecretStr("Password"))}, "HUB_SMS__SMPP__PASSWORD"),
        ({"smpp": SmppSettings(system_id="hub12333", password=SecretStr("hub12333"))}, "HUB_SMS__SMPP__PASSWORD"),
        ({"smpp": SmppSettings(system_id=" ", password=SecretStr("Kq7#w2-bind-secret"))}, "HUB_SMS__SMPP__SYSTEM_ID"),
    ],
)
def test_production_refuses_each_development_setting(override: dict[str, Any], named: str) -> None:
    settings = SmsSettings(**{**PROD_OK, **override})
    with pytest.raises(ValueError, match=named):
        settings.check_environment("production")
    settings.check_environment("development")  # development and tests may use them
    settings.check_environment("test")


def test_the_bind_password_never_shows_in_a_repr() -> None:
    settings = SmsSettings(**PROD_OK)
    assert "Kq7#w2" not in repr(settings)
    assert "Kq7#w2" not in str(settings.model_dump())


def test_hub_sms_run_refuses_to_start_in_production_with_the_file_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.cli
    from gateway.cli_sms import sms_app
    from hub.settings import Settings

    # Settings as the loader would return them for a production process whose other areas are configured
    # (built without validation so that only the SMS check is exercised here).
    settings = Settings.model_construct(
        environment="production", var_dir=tmp_path, sms=SmsSettings(transport="file"), log_level="INFO"
    )
    endpoints = SimpleNamespace(hub_db_url="postgresql://hub@127.0.0.1:1/hub", query_db_url="")
    monkeypatch.setattr(gateway.cli, "_endpoints", lambda: (settings, endpoints))
    done = CliRunner().invoke(sms_app, ["run"])
    assert done.exit_code == 2, done.output
    assert "HUB_SMS__TRANSPORT=file" in done.output
    assert "HUB_SMS__SMPP__PASSWORD" in done.output
    assert not (tmp_path / "sms").exists()  # the worker never started (the file transport makes var/sms)


def test_the_sms_tables_are_vacuumed_early(dbs: Databases) -> None:
    # Every state change leaves a dead row version; the default 20% scale factor lets millions pile up.
    rows = query(
        dbs.hub_url,
        "select relname, reloptions from pg_class where relnamespace = 'hub'::regnamespace "
        "and relname in ('sms_message', 'sms_segment', 'sms_receipt_orphan')",
    )
    assert len(rows) == 3
    for _, options in rows:
        assert "autovacuum_vacuum_scale_factor=0.01" in options
        assert "autovacuum_vacuum_threshold=10000" in options

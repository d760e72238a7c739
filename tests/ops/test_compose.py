"""docker/compose.yaml: accepted by docker-compose, secrets only from the environment, real entry points."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from gateway.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
EXAMPLE_ENV = ROOT / "docker" / "example.env"


def _compose_cli() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing (make installs Debian's docker-compose package)")
        pytest.skip("docker-compose is not installed")
    return found


def _rendered() -> dict[str, Any]:
    out = subprocess.run(
        [_compose_cli(), "--env-file", str(EXAMPLE_ENV), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, Any] = yaml.safe_load(out.stdout)
    return loaded


def test_compose_config_is_accepted() -> None:
    result = subprocess.run(
        [_compose_cli(), "--env-file", str(EXAMPLE_ENV), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_render_without_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("PASSWORD", "_KEY"))}
    result = subprocess.run(
        [_compose_cli(), "--env-file", str(empty), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode != 0
    assert "CORE_DB_PASSWORD" in result.stderr or "set " in result.stderr


def test_every_service_has_limits_and_hub_services_run_real_commands() -> None:
    services = _rendered()["services"]
    expected = {"core-db", "hub-db", "query-replica", "redis", "web1", "web2", "nginx", "sync", "outbox", "sms"}
    assert expected <= set(services)
    group = typer.main.get_command(app)
    for name, service in services.items():
        assert service.get("mem_limit"), f"{name} has no memory limit"
        assert service.get("cpus"), f"{name} has no CPU limit"
        if service.get("image") == "pension-hub:latest":
            command = list(service["command"])
            node: Any = group
            for word in command:
                if word.startswith("-"):
                    break  # options of the command found so far
                assert hasattr(node, "get_command"), f"{name}: {command} is not a hub command"
                node = node.get_command(None, word)
                assert node is not None, f"{name}: `hub {' '.join(command)}` does not exist"
            assert not hasattr(node, "get_command"), f"{name}: `hub {' '.join(command)}` names a group, not a command"
            env = service["environment"]
            assert env["HUB_ENVIRONMENT"] == "production"
            assert env["HUB_SYNC__EMBEDDED"] == "false"  # the sync worker runs once, in its own container
    web_checks = [services[w]["healthcheck"]["test"] for w in ("web1", "web2")]
    assert all("/readyz" in " ".join(check) for check in web_checks)


def test_no_secret_is_written_in_the_files() -> None:
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if any(word in line for word in ("PASSWORD:", "_KEY:")) and "${" not in line:
            pytest.fail(f"literal secret in compose.yaml: {line.strip()}")

"""The README's settings table names every ``HUB_…`` variable the settings model reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from hub.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def env_names(model: type[BaseModel], prefix: str) -> set[str]:
    """Every environment variable of ``model``: nested groups are joined with ``__`` as pydantic-settings does."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def documented_names() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `HUB_"):
            first_cell = line.split("|")[1]
            names |= set(re.findall(r"`(HUB_[A-Z0-9_]+)`", first_cell))
    return names


def test_every_setting_is_documented_once_in_the_readme() -> None:
    expected = env_names(Settings, "HUB_")
    documented = documented_names()
    assert expected - documented == set(), "settings missing from the README table"
    assert documented - expected == set(), "README names settings that do not exist"


def test_the_walk_finds_nested_groups() -> None:
    # The walk itself must see nested groups, or the comparison above would be vacuous.
    names = env_names(Settings, "HUB_")
    assert "HUB_SYNC__BATCH_SIZE" in names
    assert "HUB_SMS__SMPP__PASSWORD" in names
    assert "HUB_SMS" not in names

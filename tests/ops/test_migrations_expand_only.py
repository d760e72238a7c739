"""Zero-downtime migrations: every upgrade step only *expands* the schema, unless it says it contracts.

During a rolling deploy the old and the new code run side by side against one schema, so an upgrade may
add tables, nullable columns, columns with defaults and indexes, but not drop, rename or retype what the
old code still uses. Removing something is a separate, later *contract* migration that declares
``contract = "<why no running code uses it any more>"``; this test holds every other upgrade to the rule.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

VERSIONS = sorted((Path(__file__).resolve().parents[2] / "hub" / "migrations").glob("*/versions/*.py"))

DESTRUCTIVE = [
    (re.compile(r"\bdrop\s+(table|column|index|schema|view|function|type|trigger)\b", re.I), "drops"),
    (re.compile(r"\brename\s+(column|to)\b", re.I), "renames"),
    (re.compile(r"\balter\s+column\s+\w+\s+(set\s+data\s+)?type\b", re.I), "changes a column type"),
    (re.compile(r"\balter\s+column\s+\w+\s+set\s+not\s+null\b", re.I), "adds NOT NULL to an existing column"),
    (re.compile(r"\badd\s+column\s+(if\s+not\s+exists\s+)?\w+\s+[\w\s(),]*?\bnot\s+null\b(?![^\n]*\bdefault\b)", re.I),
     "adds a NOT NULL column without a default"),
]  # fmt: skip


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migration_{path.parent.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problems(source: str) -> list[str]:
    return [what for pattern, what in DESTRUCTIVE if pattern.search(source)]


@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_upgrade_only_expands(path: Path) -> None:
    module = _load(path)
    found = problems(inspect.getsource(module.upgrade))
    contract = getattr(module, "contract", None)
    if found:
        assert isinstance(contract, str) and len(contract) > 20, (
            f"{path.name} upgrade {', '.join(found)}: split it into an expand step and a later contract step "
            'that declares contract = "<why no running code uses it any more>"'
        )


def test_the_rule_catches_what_it_should() -> None:
    # The checker itself must be able to fail.
    assert problems('op.execute("alter table hub.account drop column phone")') == ["drops"]
    assert problems('op.execute("alter table t rename column a to b")') == ["renames"]
    assert problems('op.execute("alter table t alter column a type bigint")') == ["changes a column type"]
    assert problems('op.execute("alter table t add column x text not null")') == [
        "adds a NOT NULL column without a default"
    ]
    assert problems("op.execute(\"alter table t add column x text not null default ''\")") == []
    assert problems('op.execute("create table t (id int primary key, x text not null)")') == []
    assert problems('op.execute("alter table t add column x text")') == []

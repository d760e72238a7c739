"""``HUB_QUERY_REPLICA_URLS`` accepts a JSON list or URLs separated by white space (a URL may hold commas)."""

from __future__ import annotations

import pytest

from hub.db import server_label
from hub.settings import Settings


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("", ()),
        ("postgresql://r1:5432/query", ("postgresql://r1:5432/query",)),
        (
            "postgresql://r1:5432/query  postgresql://r2,r3:5433/query",
            ("postgresql://r1:5432/query", "postgresql://r2,r3:5433/query"),
        ),
        ('["postgresql://r1/q", "postgresql://u:p@r2/q"]', ("postgresql://r1/q", "postgresql://u:p@r2/q")),
    ],
)
def test_replica_urls_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("HUB_QUERY_REPLICA_URLS", env)
    monkeypatch.setenv("HUB_QUERY_REPLICA_MAX_LAG_SECONDS", "0.5")
    settings = Settings()
    assert settings.query_replica_urls == expected
    assert settings.query_replica_max_lag_seconds == 0.5


def test_a_replica_is_named_in_logs_without_its_credentials() -> None:
    assert server_label("postgresql://hub:secret@10.0.0.7:5433/query") == "10.0.0.7:5433/query"
    assert server_label("postgresql+psycopg://r1/query") == "r1/query"

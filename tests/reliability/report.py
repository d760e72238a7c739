"""Sizes and measurements of the reliability tests, shared with ``bench/reliability.py``.

The suite runs each fault at a small size; the bench wrapper runs the same tests at full size (the
``HUB_TEST_…`` variables below) and sets ``HUB_RELIABILITY_REPORT`` to a file where each test appends
what it measured (one JSON object per line), so the full-size run keeps its numbers, not only a verdict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any


def size(name: str, default: float) -> float:
    """The size ``HUB_TEST_<name>`` asks for, else the suite's ``default``."""
    return float(os.environ.get(f"HUB_TEST_{name}", default))


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return ordered[int(rank) - 1]


def record(test: str, **values: Any) -> None:
    """Append ``values`` for ``test`` to the report file, when a bench run asked for one."""
    path = os.environ.get("HUB_RELIABILITY_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"test": test, **values}, ensure_ascii=False, default=str) + "\n")

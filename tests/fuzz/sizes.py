"""How many examples the property and schema fuzzers run: small in CI, nightly size from ``bench/``.

``HUB_SCHEMATHESIS_EXAMPLES`` replaces every schemathesis test's own count (``bench/reliability.py`` sets
1,000 per operation); unset, each test keeps the count it names.
"""

from __future__ import annotations

import os


def examples(default: int) -> int:
    value = os.environ.get("HUB_SCHEMATHESIS_EXAMPLES")
    return int(value) if value else default

"""The whole-run log scan (tests/logscan.py) can fail: a run that logs a number or a code exits non-zero."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from hub import ids

ROOT = Path(__file__).resolve().parents[2]

INNER = """
import binascii
import logging

from hub.identity import codes

ID_NUMBER = {id_number!r}


def test_logs_an_id_number_in_a_traceback() -> None:
    try:
        raise ValueError("no such person " + ID_NUMBER)
    except ValueError:
        logging.getLogger("leaky.service").exception("lookup failed")


def test_logs_a_phone_on_a_logger_that_does_not_propagate() -> None:
    access = logging.getLogger("leaky.access")
    access.propagate = False
    access.info("GET /send?to=13912345678 200")


def test_logs_a_generated_code_at_debug() -> None:
    logging.getLogger("leaky.codes").debug("made code %s", codes.new_code())


def test_logs_a_phone_in_a_hex_wire_dump() -> None:
    logging.getLogger("leaky.wire").debug(">>%s", binascii.b2a_hex(b"\\x00\\x01\\x0113800000001\\x00"))


def test_logs_masked_values_only() -> None:
    logging.getLogger("careful").warning("person %s phone %s", "110***********1234", "139****5678")
"""


def _run(tmp_path: Path, source: str, *extra: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_inner_logscan.py"
    test_file.write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.logscan",
            "-p",
            "no:cacheprovider",
            f"--rootdir={tmp_path}",
            "-c",
            os.devnull,
            f"--basetemp={tmp_path / 'basetemp'}",
            *extra,
            str(test_file),
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_run_that_logs_personal_numbers_or_codes_fails(tmp_path: Path) -> None:
    id_number = ids.make_id_number("110105", date(1970, 5, 17), 7, "1")
    result = _run(tmp_path, INNER.format(id_number=id_number))
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "5 passed" in out
    assert "log scan: 4 personal numbers or codes in logs" in out
    for logger in ("leaky.service", "leaky.access", "leaky.codes", "leaky.wire"):
        assert logger in out
    assert "careful" not in out
    assert id_number not in out and "13912345678" not in out  # the report masks what it found


def test_a_run_that_logs_only_masked_values_passes(tmp_path: Path) -> None:
    result = _run(tmp_path, INNER.format(id_number="110***********1234"), "-k", "masked or phone_on")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out  # the phone still counts
    result = _run(tmp_path, INNER.format(id_number="110***********1234"), "-k", "masked")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "log scan" not in out

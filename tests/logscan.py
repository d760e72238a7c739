"""Whole-run log scan (issue 3): no log line of a test run holds a full ID number, phone or SMS code.

Every log record of the session — every logger and level, including ``uvicorn.access`` and other
loggers that do not propagate to the root, and tracebacks — is written to a per-worker file under the
session's base temp directory. Records reach the file through ``Logger.callHandlers`` (wrapped at
import), so a later ``basicConfig``/``dictConfig`` that replaces the root handlers cannot switch the
scan off. Every SMS code ``hub.identity.codes.new_code`` generates is registered too.

At the end of the session the controlling process (the only process without xdist) scans every
worker's file for valid 18-character 公民身份号码, 11-digit mobile numbers and the generated codes, and
fails the run (exit status 1) listing the loggers and masked snippets. Subprocesses' own logs are not
covered.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.identity import codes as _codes
from hub.ids import is_valid_id_number
from hub.redact import redact

LOG_PREFIX = "logscan-"
CODES_PREFIX = "logscan-codes-"

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
# Not inside a longer token of letters and digits (a hex request id may hold 11 digits in a row).
PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
CODE = re.compile(r"(?<![\d.])\d{6}(?![\d.])")
HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])")

GENERATED_CODES: set[str] = set()
_codes_lock = threading.Lock()


def _instrument_codes(original: Callable[[], str]) -> Callable[[], str]:
    @functools.wraps(original)
    def new_code() -> str:
        code = original()
        with _codes_lock:
            GENERATED_CODES.add(code)
        return code

    new_code.__logscan__ = True  # type: ignore[attr-defined]
    return new_code


if not getattr(_codes.new_code, "__logscan__", False):
    _codes.new_code = _instrument_codes(_codes.new_code)


class _ScanHandler(logging.Handler):
    """Writes one block per record: the logger's name, a tab, the formatted record (traceback included)."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.stream: object | None = None

    def open(self, path: Path) -> None:
        self.acquire()
        try:
            self.stream = path.open("a", encoding="utf-8", errors="backslashreplace")
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        stream = self.stream
        if stream is None:
            return
        try:
            text = self.format(record)
        except Exception:  # a record whose arguments do not format: keep its raw parts
            text = f"{record.msg!r} {record.args!r}"
        block = "\n".join(f"{record.name}\t{line}" for line in text.splitlines() or [""])
        stream.write(block + "\n")  # type: ignore[attr-defined]

    def close_stream(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.close()  # type: ignore[attr-defined]
                self.stream = None
        finally:
            self.release()


HANDLER = _ScanHandler()
_original_call_handlers = logging.Logger.callHandlers


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    _original_call_handlers(self, record)
    HANDLER.handle(record)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _basetemp(config: pytest.Config) -> Path:
    return config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined,no-any-return]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    path = _basetemp(config) / f"{LOG_PREFIX}{_worker()}.log"
    HANDLER.open(path)
    config.stash[_path_key] = path
    logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
    logging.getLogger().setLevel(logging.DEBUG)


_path_key = pytest.StashKey[Path]()
_findings_key = pytest.StashKey[list[str]]()


def _files(log_dir: Path, pattern: str) -> list[Path]:
    """This run's files: the base temp directory's and its xdist workers' (not nested test runs')."""
    return sorted([*log_dir.glob(pattern), *log_dir.glob(f"popen-gw*/{pattern}")])


def _decoded(text: str) -> list[str]:
    """The line itself and its hex dumps (wire logs) read as ASCII and as UCS-2, as SMS texts are."""
    texts = [text]
    for m in HEX.finditer(text):
        raw = bytes.fromhex(m.group(0))
        texts.append(raw.decode("latin-1"))
        texts.append(raw[: len(raw) // 2 * 2].decode("utf-16-be", "replace"))
        texts.append(raw[1 : 1 + (len(raw) - 1) // 2 * 2].decode("utf-16-be", "replace"))
    return texts


def scan(log_dir: Path, codes: set[str]) -> list[str]:
    """Findings ``logger: masked snippet`` in this run's scan files under ``log_dir``."""
    findings: list[str] = []
    for path in _files(log_dir, f"{LOG_PREFIX}*.log"):
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                name, _, line_text = line.rstrip("\n").partition("\t")
                for text in _decoded(line_text):
                    hits = [m for m in ID_NUMBER.finditer(text) if is_valid_id_number(m.group(0))]
                    hits += list(PHONE.finditer(text))
                    hits += [m for m in CODE.finditer(text) if m.group(0) in codes]
                    for m in hits:
                        start, end = max(0, m.start() - 40), min(len(text), m.end() + 40)
                        snippet = text[start:end].replace(m.group(0), "*" * len(m.group(0)))
                        snippet = "".join(c if c.isprintable() else "." for c in snippet)
                        findings.append(f"{name}: ...{redact(snippet)}...")
    return findings


def _all_codes(log_dir: Path) -> set[str]:
    found = set(GENERATED_CODES)
    for path in _files(log_dir, f"{CODES_PREFIX}*.txt"):
        found |= set(path.read_text().split())
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    logging.Logger.callHandlers = _original_call_handlers  # type: ignore[method-assign]
    HANDLER.close_stream()
    base = _basetemp(config)
    if _is_xdist_worker(config):
        (base / f"{CODES_PREFIX}{_worker()}.txt").write_text("\n".join(sorted(GENERATED_CODES)))
        return
    log_dir = base
    findings = scan(log_dir, _all_codes(log_dir))
    config.stash[_findings_key] = findings
    if findings and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    findings = config.stash.get(_findings_key, [])
    if not findings:
        return
    terminalreporter.write_sep("=", f"log scan: {len(findings)} personal numbers or codes in logs", red=True)
    for line in findings[:200]:
        terminalreporter.write_line(line)
    if len(findings) > 200:
        terminalreporter.write_line(f"... and {len(findings) - 200} more")

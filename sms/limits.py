"""Abuse limits for single messages, the daily budget and the broadcast send window.

Numbers are counted by their blind indexes (``hub.messaging.sealed``): a number by ``recipient_bidx``, its
prefix (the number minus its last four digits) by ``recipient_pidx``; the plain number is never needed here.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from hub.config.sms import LimitSettings

ATTEMPTED = "('queued', 'sent', 'delivered', 'unknown')"


Key = bytes  # a blind index: of a number (``recipient_bidx``) or of its prefix (``recipient_pidx``)


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


class PrefixWindow:
    """Attempts per number prefix in the last hour, kept in memory by the (single) worker.

    Counting a busy prefix in PostgreSQL means reading every message of that prefix of the last hour at every
    claimed batch, which grows with the traffic. A prefix is read from the database the first time the worker
    meets it; after that the worker adds what it claims itself (no other process makes messages attempted).
    It can only count more than the database (a claimed message that later fails still counts), never less.
    Prefixes are their blind indexes (numbers handed out in blocks are abused in blocks).
    """

    def __init__(self) -> None:
        self._hits: dict[Key, list[datetime]] = {}

    def counts(self, conn: psycopg.Connection[Any], prefixes: list[Key], now: datetime) -> dict[Key, int]:
        missing = [p for p in prefixes if p not in self._hits]
        if missing:
            rows = conn.execute(
                f"""
                select recipient_pidx, created_at from hub.sms_message
                where job_id is null and status in {ATTEMPTED} and created_at > %s - interval '1 hour'
                  and recipient_pidx = any(%s::bytea[])
                """,
                (now, missing),
            ).fetchall()
            for p in missing:
                self._hits[p] = []
            for pfx, created_at in rows:
                self._hits[bytes(pfx)].append(created_at)
            for p in missing:
                self._hits[p].sort()
        cutoff = now - timedelta(hours=1)
        out: dict[Key, int] = {}
        for p in prefixes:
            hits = self._hits[p]
            del hits[: bisect.bisect_right(hits, cutoff)]
            out[p] = len(hits)
        if len(self._hits) > 100_000:  # forget prefixes with nothing left in the hour
            for p in [p for p, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
                del self._hits[p]
        return out

    def add(self, prefix: Key, at: datetime) -> None:
        hits = self._hits.get(prefix)
        if hits is not None:
            bisect.insort(hits, at)


@dataclass
class LimitCheck:
    """Counts already in the database (one query per claimed batch) plus those claimed in this batch."""

    cfg: LimitSettings
    now: datetime
    used: Counter[tuple[str, Key | str]] = field(default_factory=Counter)
    prefixes: PrefixWindow | None = None  # the worker's in-memory prefix counts; None reads them from PostgreSQL

    def load(
        self,
        conn: psycopg.Connection[Any],
        recipients: list[Key],
        prefixes: list[Key],
        ips: list[str],
        exclude: list[int],
    ) -> None:
        """Read the recent attempts of these numbers, their prefixes and IPs (excluding the batch itself); the
        numbers and prefixes are blind indexes."""
        if not recipients:
            return
        prefixes = sorted(set(prefixes))
        # ``exclude`` (the batch itself) needs no filter: its rows are still 'created', which is not attempted.
        attempted = f"job_id is null and status in {ATTEMPTED}"
        # Counts grouped in PostgreSQL (one row per number, prefix and IP instead of one per past message), each
        # part on its own index (per number through a lateral join, which keeps the plan on the recipient index
        # when the table's statistics are stale); the IP part only when the batch has IPs.
        parts = [
            f"""
            select 'n', q.r, c.minute, c.hour, c.day
            from unnest(%(r)s::bytea[]) as q(r) cross join lateral (
                select count(*) filter (where created_at > %(now)s - interval '1 minute') as minute,
                       count(*) filter (where created_at > %(now)s - interval '1 hour') as hour, count(*) as day
                from hub.sms_message
                where {attempted} and created_at > %(now)s - interval '1 day' and recipient_bidx = q.r
            ) as c
            where c.day > 0
            """,
        ]
        if self.prefixes is None:
            parts.append(
                f"""
            select 'p', recipient_pidx, 0, count(*), 0
            from hub.sms_message
            where {attempted} and created_at > %(now)s - interval '1 hour' and recipient_pidx = any(%(p)s::bytea[])
            group by recipient_pidx
            """
            )
        else:
            for pfx, n in self.prefixes.counts(conn, prefixes, self.now).items():
                self.used["prefix", pfx] += n
        if ips:
            parts.append(
                f"""
                select 'i', convert_to(host(requester_ip), 'UTF8'), 0, count(*), 0
                from hub.sms_message
                where {attempted} and created_at > %(now)s - interval '1 hour'
                  and requester_ip = any(%(i)s::inet[])
                group by host(requester_ip)
                """
            )
        rows = conn.execute(
            " union all ".join(parts), {"now": self.now, "r": recipients, "p": prefixes, "i": ips}
        ).fetchall()
        for kind, raw, last_minute, last_hour, last_day in rows:
            key = bytes(raw)
            if kind == "n":
                self.used["day", key] += int(last_day)
                self.used["hour", key] += int(last_hour)
                self.used["minute", key] += int(last_minute)
            elif kind == "p":
                self.used["prefix", key] += int(last_hour)
            else:
                self.used["ip", key.decode()] += int(last_hour)

    def note(self, recipient: Key, prefix: Key, ip: str | None) -> None:
        """Count a message that passed an earlier check but is not attempted in the database yet (prepared by
        the worker, not claimed); its prefix is already in the in-memory window."""
        for kind in ("minute", "hour", "day"):
            self.used[kind, recipient] += 1
        if ip is not None:
            self.used["ip", ip] += 1
        if self.prefixes is None:
            self.used["prefix", prefix] += 1

    def refused(self, recipient: Key, prefix: Key, ip: str | None) -> str | None:
        """The name of the limit this message would break, or None (then it counts as used)."""
        keys: list[tuple[str, tuple[str, Key | str], int]] = [
            ("number_minute", ("minute", recipient), self.cfg.per_number_minute),
            ("number_hour", ("hour", recipient), self.cfg.per_number_hour),
            ("number_day", ("day", recipient), self.cfg.per_number_day),
            ("prefix_hour", ("prefix", prefix), self.cfg.per_prefix_hour),
        ]
        if ip is not None:
            keys.append(("ip_hour", ("ip", ip), self.cfg.per_ip_hour))
        for name, key, limit in keys:
            if self.used[key] >= limit:
                return name
        for _, key, _ in keys:
            self.used[key] += 1
        if self.prefixes is not None:
            self.prefixes.add(prefix, self.now)
        return None

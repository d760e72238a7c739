"""``hub audit verify``: walk every chain and its anchors and report each edited, deleted or cut row.

The same walk serves the auditor's background job (``hub.audit.verify_job``), which takes it in batches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from hub.audit.chain import FIELDS, GENESIS, Entry, anchor_valid, link


@dataclass(frozen=True)
class Finding:
    chain_id: str
    seq: int
    kind: str  # edited | missing | relinked | truncated | bad_anchor
    detail: str


_COLUMNS = ", ".join((*FIELDS, "prev_hash", "hash"))


def _entry(row: tuple[Any, ...]) -> Entry:
    values = dict(zip(FIELDS, row[: len(FIELDS)], strict=True))
    return Entry(**{k: v for k, v in values.items() if k not in ("chain_id", "seq")})


@dataclass
class Walk:
    """Where the walk of one chain stands: the next sequence expected, the hash it must link to, rows seen.

    ``hub audit verify`` walks a chain in one pass; the auditor's background job (``hub.audit.verify_job``)
    in batches, keeping this between them."""

    chain_id: str
    expected: int = 1
    prev: bytes = GENESIS
    rows: int = 0

    @property
    def last_seq(self) -> int:
        return self.expected - 1

    def check(self, rows: Iterable[tuple[Any, ...]]) -> list[Finding]:
        """Walk on over ``rows`` (this chain's, in sequence order, ``_COLUMNS``); the findings among them."""
        findings: list[Finding] = []
        chain_id = self.chain_id
        for row in rows:
            self.rows += 1
            seq, prev_hash, stored = int(row[1]), bytes(row[-2]), bytes(row[-1])
            if seq != self.expected:
                findings.append(
                    Finding(chain_id, self.expected, "missing", f"rows {self.expected}..{seq - 1} are missing")
                )
            elif prev_hash != self.prev:
                findings.append(Finding(chain_id, seq, "relinked", "previous-hash link does not match"))
            if link(chain_id, seq, _entry(row), prev_hash).hash != stored:
                findings.append(Finding(chain_id, seq, "edited", "record content does not match its hash"))
            self.prev, self.expected = stored, seq + 1
        return findings


# The archive holds a chain's older records (hub.audit.archive), the live log the rest.
_ROWS = (
    f"select {_COLUMNS} from (select {_COLUMNS} from hub.audit_log_archive where chain_id = %(c)s and seq > %(after)s "
    f"union all select {_COLUMNS} from hub.audit_log where chain_id = %(c)s and seq > %(after)s) t "
    "where %(upto)s::bigint is null or seq <= %(upto)s order by seq"
)


def read_rows(
    conn: psycopg.Connection[Any], chain_id: str, *, after: int, up_to: int | None, limit: int
) -> list[tuple[Any, ...]]:
    """The next ``limit`` rows of a chain after sequence ``after`` (and not past ``up_to``), archive and log."""
    return conn.execute(_ROWS + " limit %(n)s", {"c": chain_id, "after": after, "upto": up_to, "n": limit}).fetchall()


def check_anchors(
    conn: psycopg.Connection[Any], chain_id: str, last_seq: int, key: bytes | None, *, up_to: int | None = None
) -> list[Finding]:
    """The chain's signed anchors (those up to ``up_to``) against its rows, once the walk reached ``last_seq``:
    a bad signature, a tail cut off before an anchor, or a row that differs from the head an anchor signed."""
    findings: list[Finding] = []
    for seq, head, signature, row_hash in conn.execute(
        "select a.seq, a.hash, a.signature, l.hash from hub.audit_anchor a left join ("
        "select seq, hash from hub.audit_log_archive where chain_id = %(c)s "
        "union all select seq, hash from hub.audit_log where chain_id = %(c)s) l on l.seq = a.seq "
        "where a.chain_id = %(c)s and (%(upto)s::bigint is null or a.seq <= %(upto)s) order by a.seq",
        {"c": chain_id, "upto": up_to},
    ).fetchall():
        if key is not None and not anchor_valid(key, chain_id, seq, bytes(head), bytes(signature)):
            findings.append(Finding(chain_id, seq, "bad_anchor", "anchor signature is not valid"))
        elif seq > last_seq:
            findings.append(Finding(chain_id, seq, "truncated", f"chain ends at {last_seq}, anchor signed {seq}"))
        elif row_hash is None or bytes(row_hash) != bytes(head):
            findings.append(Finding(chain_id, seq, "edited", "chain differs from the signed anchor"))
    return findings


def chain_ids(conn: psycopg.Connection[Any], *, after: str | None = None) -> list[str]:
    """Every chain (registered, or known from an anchor), in order; those after ``after`` when given."""
    return [
        str(r[0])
        for r in conn.execute(
            "select chain_id from (select chain_id from hub.audit_chain union select chain_id from hub.audit_anchor) t "
            "where %(after)s::text is null or chain_id > %(after)s order by 1",
            {"after": after},
        ).fetchall()
    ]


def verify_chain(conn: psycopg.Connection[Any], chain_id: str, key: bytes | None) -> tuple[int, list[Finding]]:
    """(rows checked, findings) for one chain."""
    walk = Walk(chain_id)
    with conn.cursor(name=f"audit_{chain_id[-12:]}") as cur:
        cur.execute(_ROWS, {"c": chain_id, "after": 0, "upto": None})
        findings = walk.check(cur)
    return walk.rows, findings + check_anchors(conn, chain_id, walk.last_seq, key)


def verify(conn: psycopg.Connection[Any], key: bytes | None) -> tuple[int, list[Finding]]:
    """Check every chain; (rows checked, findings). No findings means intact up to each chain's last anchor."""
    total, findings = 0, []
    for chain_id in chain_ids(conn):
        n, found = verify_chain(conn, chain_id, key)
        total += n
        findings.extend(found)
    return total, findings

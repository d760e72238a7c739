"""``hub audit verify``: walk every chain and its anchors and report each edited, deleted or cut row."""

from __future__ import annotations

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


def verify_chain(conn: psycopg.Connection[Any], chain_id: str, key: bytes | None) -> tuple[int, list[Finding]]:
    """(rows checked, findings) for one chain."""
    findings: list[Finding] = []
    expected, prev, last_seq = 1, GENESIS, 0
    heads: dict[int, bytes] = {}
    with conn.cursor(name=f"audit_{chain_id[-12:]}") as cur:
        # The archive holds a chain's older records (hub.audit.archive), the live log the rest.
        cur.execute(
            f"select {_COLUMNS} from (select {_COLUMNS} from hub.audit_log_archive where chain_id = %s "
            f"union all select {_COLUMNS} from hub.audit_log where chain_id = %s) t order by seq",
            (chain_id, chain_id),
        )
        count = 0
        for row in cur:
            count += 1
            seq, prev_hash, stored = int(row[1]), bytes(row[-2]), bytes(row[-1])
            if seq != expected:
                findings.append(Finding(chain_id, expected, "missing", f"rows {expected}..{seq - 1} are missing"))
            elif prev_hash != prev:
                findings.append(Finding(chain_id, seq, "relinked", "previous-hash link does not match"))
            if link(chain_id, seq, _entry(row), prev_hash).hash != stored:
                findings.append(Finding(chain_id, seq, "edited", "record content does not match its hash"))
            prev, expected, last_seq = stored, seq + 1, seq
            heads[seq] = stored
    for seq, head, signature in conn.execute(
        "select seq, hash, signature from hub.audit_anchor where chain_id = %s order by seq", (chain_id,)
    ).fetchall():
        if key is not None and not anchor_valid(key, chain_id, seq, bytes(head), bytes(signature)):
            findings.append(Finding(chain_id, seq, "bad_anchor", "anchor signature is not valid"))
        elif seq > last_seq:
            findings.append(Finding(chain_id, seq, "truncated", f"chain ends at {last_seq}, anchor signed {seq}"))
        elif heads.get(seq) != bytes(head):
            findings.append(Finding(chain_id, seq, "edited", "chain differs from the signed anchor"))
    return count, findings


def verify(conn: psycopg.Connection[Any], key: bytes | None) -> tuple[int, list[Finding]]:
    """Check every chain; (rows checked, findings). No findings means intact up to each chain's last anchor."""
    chains = [
        r[0]
        for r in conn.execute(
            "select chain_id from hub.audit_chain union select distinct chain_id from hub.audit_anchor order by 1"
        ).fetchall()
    ]
    total, findings = 0, []
    for chain_id in chains:
        n, found = verify_chain(conn, chain_id, key)
        total += n
        findings.extend(found)
    return total, findings

"""Server-side portal sessions in Redis: idle timeout 30 minutes, absolute lifetime 10 hours.

The cookie holds only a random id; Redis holds the Subject under a hash of that id. Both limits are
checked against the caller's clock (so tests move time), and the Redis TTL cleans up behind them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from hub.access.subject import Channel, StaffRole, Subject, SubjectKind

SESSION_CLIENT = "portal-web"  # the client_id of a Subject that came through a portal session


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=10)
    prefix: str = "hub:auth:"


@dataclass(frozen=True)
class Session:
    subject: Subject
    created: float
    last_seen: float
    generation: int = 0  # the account's session generation when it was opened (see revoke_account)
    # Opened with an administrator-issued password: only the password change page is open to it
    # (``gateway.identity.deps``) until the change lifts the restriction (``keep_after_change``).
    restricted: bool = False

    def live(self, policy: SessionPolicy, now: datetime) -> bool:
        t = now.timestamp()
        return t - self.last_seen < policy.idle.total_seconds() and t - self.created < policy.absolute.total_seconds()


def key(policy: SessionPolicy, session_id: str) -> str:
    return policy.prefix + "sess:" + hashlib.sha256(session_id.encode()).hexdigest()


def subject_to_dict(s: Subject) -> dict[str, Any]:
    return {
        "kind": s.kind.value,
        "account_id": s.account_id,
        "client_id": s.client_id,
        "channel": s.channel.value,
        "scopes": sorted(s.scopes),
        "person_id": s.person_id,
        "unit_id": s.unit_id,
        "unit_admin": s.unit_admin,
        "roles": sorted(r.value for r in s.roles),
        "region_codes": sorted(s.region_codes),
        "grant_id": s.grant_id,
        "auth_methods": list(s.auth_methods),
    }


def subject_from_dict(d: dict[str, Any]) -> Subject:
    return Subject(
        kind=SubjectKind(d["kind"]),
        account_id=d["account_id"],
        client_id=d["client_id"],
        channel=Channel(d["channel"]),
        scopes=frozenset(d["scopes"]),
        person_id=d["person_id"],
        unit_id=d["unit_id"],
        unit_admin=d["unit_admin"],
        roles=frozenset(StaffRole(r) for r in d["roles"]),
        region_codes=frozenset(d["region_codes"]),
        grant_id=d["grant_id"],
        auth_methods=tuple(d["auth_methods"]),
    )


def encode(session: Session) -> str:
    d = {"s": subject_to_dict(session.subject), "c": session.created, "l": session.last_seen, "g": session.generation}
    if session.restricted:
        d["r"] = True
    return json.dumps(d)


def decode(raw: str | bytes) -> Session:
    d = json.loads(raw)
    return Session(subject_from_dict(d["s"]), float(d["c"]), float(d["l"]), int(d.get("g", 0)), bool(d.get("r")))


def ttl_seconds(policy: SessionPolicy) -> int:
    return int(policy.idle.total_seconds())


def create(r: redis.Redis, policy: SessionPolicy, subject: Subject, now: datetime, *, restricted: bool = False) -> str:
    """Store a new session for ``subject``; returns the id for the cookie. A ``restricted`` session reaches
    only the password change page."""
    session_id = secrets.token_urlsafe(32)
    grant = "ps_" + secrets.token_hex(8)
    subject = Subject(**{**subject.__dict__, "grant_id": grant})
    t = now.timestamp()
    generation = int(r.get(generation_key(policy, subject.account_id)) or 0)
    r.set(key(policy, session_id), encode(Session(subject, t, t, generation, restricted)), ex=ttl_seconds(policy))
    return session_id


def destroy(r: redis.Redis, policy: SessionPolicy, session_id: str) -> None:
    r.delete(key(policy, session_id))


def generation_key(policy: SessionPolicy, account_id: str) -> str:
    return policy.prefix + "sess-gen:" + hashlib.sha256(account_id.encode()).hexdigest()


def revoke_account(r: redis.Redis, policy: SessionPolicy, account_id: str) -> None:
    """End every open session of ``account_id`` (disabled, or its rights changed): sessions remember the
    account's generation when they were opened, and one from an older generation is refused."""
    gen = generation_key(policy, account_id)
    r.incr(gen)
    r.expire(gen, int(policy.absolute.total_seconds()) + 60)


def revoked(session: Session, current_generation: bytes | str | None) -> bool:
    return session.generation < int(current_generation or 0)


def keep_after_change(r: redis.Redis, policy: SessionPolicy, session_id: str, now: datetime) -> bool:
    """After ``revoke_account`` for a password change: bring the session that made the change into the new
    generation (it stays open, every other one ends) and lift its restriction. False if it is gone."""
    k = key(policy, session_id)
    raw = r.get(k)
    if raw is None:
        return False
    session = decode(raw)
    generation = int(r.get(generation_key(policy, session.subject.account_id)) or 0)
    kept = Session(session.subject, session.created, now.timestamp(), generation, False)
    r.set(k, encode(kept), ex=ttl_seconds(policy))
    return True

"""Signed access tokens (JWT, ES256) that carry a Subject, and the key set that signs them.

Access tokens live 5 minutes by default. Keys rotate: the newest key signs, every key still in the set
verifies, so tokens signed just before a rotation stay valid until they expire. Key storage (the hub
DB, with the private keys encrypted) belongs to the identity service; this module only signs and checks.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from hub.access.subject import Channel, StaffRole, Subject, SubjectKind

ALGORITHM = "ES256"
DEFAULT_TTL_SECONDS = 300


class InvalidToken(Exception):
    """The token is malformed, signed by an unknown key, expired, or for another audience."""


@dataclass(frozen=True)
class SigningKeys:
    """The current signing key and every key that may still verify (newest first)."""

    keys: tuple[ECKey, ...]

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKeys:
        return cls((new_key(kid),))

    @classmethod
    def from_jwks(cls, private_jwks: Iterable[Mapping[str, Any]]) -> SigningKeys:
        return cls(tuple(ECKey.import_key(dict(k)) for k in private_jwks))

    def rotated(self, keep: int = 2) -> SigningKeys:
        """A new signing key in front; the older ones kept for verification, at most ``keep`` in all."""
        return SigningKeys((new_key(), *self.keys)[:keep])

    @property
    def current(self) -> ECKey:
        return self.keys[0]

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document (public halves only)."""
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    def private_jwks(self) -> list[dict[str, Any]]:
        return [k.as_dict(private=True) for k in self.keys]

    def _key_set(self) -> KeySet:
        return KeySet(list(self.keys))

    def has_kid(self, kid: str | None) -> bool:
        return kid is not None and any(k.kid == kid for k in self.keys)


def new_key(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid or secrets.token_hex(8), "alg": ALGORITHM, "use": "sig"})


def issue_access_token(
    subject: Subject,
    keys: SigningKeys,
    *,
    issuer: str,
    audience: str = "hub",
    ttl: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject.account_id,
        "iat": issued,
        "exp": issued + ttl,
        "jti": secrets.token_hex(12),
        "knd": subject.kind.value,
        "cid": subject.client_id,
        "chn": subject.channel.value,
        "scope": " ".join(sorted(subject.scopes)),
        "amr": list(subject.auth_methods),
    }
    if subject.person_id is not None:
        claims["pid"] = subject.person_id
    if subject.unit_id is not None:
        claims["uid"] = subject.unit_id
        claims["uad"] = subject.unit_admin
    if subject.roles:
        claims["rol"] = sorted(r.value for r in subject.roles)
    if subject.region_codes:
        claims["reg"] = sorted(subject.region_codes)
    if subject.grant_id is not None:
        claims["gid"] = subject.grant_id
    header = {"alg": ALGORITHM, "kid": keys.current.kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, keys.current)


def verify_access_token(
    token: str, keys: SigningKeys, *, issuer: str, audience: str = "hub", now: float | None = None
) -> Subject:
    """The Subject a valid token carries; raises InvalidToken otherwise (never says why to the caller)."""
    return verify_access_token_claims(token, keys, issuer=issuer, audience=audience, now=now)[0]


def verify_access_token_claims(
    token: str, keys: SigningKeys, *, issuer: str, audience: str = "hub", now: float | None = None
) -> tuple[Subject, dict[str, Any]]:
    """Like ``verify_access_token``, also returning the verified claims (``jti``, ``exp``, ``iat`` …)."""
    return _verify(token, keys, issuer=issuer, audience=audience, now=now)[:2]


def _verify(
    token: str, keys: SigningKeys, *, issuer: str, audience: str, now: float | None
) -> tuple[Subject, dict[str, Any], str]:
    try:
        decoded = jwt.decode(token, keys._key_set(), algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise InvalidToken(type(exc).__name__) from exc
    if decoded.header.get("typ") != "at+jwt":
        raise InvalidToken("not an access token")
    c = decoded.claims
    current = time.time() if now is None else now
    if c.get("iss") != issuer or c.get("aud") != audience:
        raise InvalidToken("issuer or audience")
    if not isinstance(c.get("exp"), int) or c["exp"] <= current:
        raise InvalidToken("expired")
    try:
        subject = Subject(
            kind=SubjectKind(c["knd"]),
            account_id=str(c["sub"]),
            client_id=str(c["cid"]),
            channel=Channel(c["chn"]),
            scopes=frozenset(str(c.get("scope", "")).split()),
            person_id=c.get("pid"),
            unit_id=c.get("uid"),
            unit_admin=bool(c.get("uad", False)),
            roles=frozenset(StaffRole(r) for r in c.get("rol", [])),
            region_codes=frozenset(c.get("reg", [])),
            grant_id=c.get("gid"),
            auth_methods=tuple(c.get("amr", [])),
        )
    except (KeyError, ValueError) as exc:
        raise InvalidToken("claims") from exc
    return subject, dict(c), str(decoded.header.get("kid"))


class VerifiedTokens:
    """Access tokens this process has verified, remembered until they expire (bounded, least recently used).

    A token is the same bytes every time its holder sends it, so a second signature check proves
    nothing new: a hit is exactly the earlier verification, re-checked against the clock (``exp``),
    the issuer and audience asked for, and the current key set (a token whose signing key has left the
    set is verified afresh, and so refused). Revocation is not cached here: callers check it per request.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0  # verified afresh (new, expired, or its key left the set)
        self._entries: OrderedDict[str, tuple[Subject, dict[str, Any], str, str, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def verify(
        self, token: str, keys: SigningKeys, *, issuer: str, audience: str = "hub", now: float | None = None
    ) -> tuple[Subject, dict[str, Any]]:
        """Like ``verify_access_token_claims``, answering a repeated token from memory."""
        current = time.time() if now is None else now
        hit = self._entries.get(token)
        if hit is not None:
            subject, claims, kid, iss, aud = hit
            if claims["exp"] > current and iss == issuer and aud == audience and keys.has_kid(kid):
                self._entries.move_to_end(token)
                self.hits += 1
                return subject, claims
            del self._entries[token]
        self.misses += 1
        subject, claims, kid = _verify(token, keys, issuer=issuer, audience=audience, now=current)
        if self.max_entries > 0:
            self._entries[token] = (subject, claims, kid, issuer, audience)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return subject, claims

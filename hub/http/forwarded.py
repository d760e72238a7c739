"""The client address and scheme behind trusted proxies (``X-Forwarded-For``, ``X-Forwarded-Proto``).

The web processes run behind a load balancer or nginx (docker/nginx), which appends the address it saw
to ``X-Forwarded-For``. The rule is uvicorn's proxy-header rule, applied by the gateway itself (uvicorn
runs with its own proxy-header handling off, ``gateway.server``) so that the fast path and the FastAPI
app read one and the same client address:

- the headers count only when the connecting peer is trusted (``HUB_WEB__FORWARDED_ALLOW_IPS``: addresses,
  networks in CIDR form, other literals such as a unix socket name, or ``*`` for any);
- the client is the right-most ``X-Forwarded-For`` entry that is not a trusted proxy (each proxy appends),
  or the left-most entry when all are trusted; ``host:port`` and ``[v6]:port`` give the port;
- ``X-Forwarded-Proto`` (the last one) sets the scheme when it is http, https, ws or wss.

uvicorn's rule parses every address with :mod:`ipaddress` and caches 4,096 answers; with many distinct
clients that cache misses on nearly every request and the parse is a large part of a short request's
cost. Here an address written as a canonical dotted quad (what proxies write) is checked against the
trusted IPv4 addresses and networks as an integer, without :mod:`ipaddress`; any other form takes
:mod:`ipaddress` exactly as uvicorn does. ``tests/http/test_forwarded.py`` holds the two to the same
answers.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import MutableMapping, Sequence
from typing import Any

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")  # what ipaddress accepts, nothing else
_SCHEMES = frozenset({"http", "https", "ws", "wss"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The proxies whose forwarding headers are believed (``spec`` as ``HUB_WEB__FORWARDED_ALLOW_IPS``)."""

    def __init__(self, spec: str | Sequence[str]) -> None:
        self.any = spec in ("*", ["*"])  # as uvicorn: "*" among other entries is a literal
        items = [item.strip() for item in spec.split(",")] if isinstance(spec, str) else list(spec)
        self.addresses: set[IPAddress] = set()
        self.networks: list[IPNetwork] = []
        self.literals: set[str] = set()
        if not self.any:
            for item in items:
                try:
                    if "/" in item:
                        self.networks.append(ipaddress.ip_network(item))
                    else:
                        self.addresses.add(ipaddress.ip_address(item))
                except ValueError:
                    self.literals.add(item)
        # The IPv4 part as integers, for dotted quads (the common case, no ipaddress objects).
        self._v4: frozenset[int] = frozenset(int(a) for a in self.addresses if a.version == 4)
        self._v4_networks: tuple[tuple[int, int], ...] = tuple(
            (int(n.network_address), int(n.netmask)) for n in self.networks if n.version == 4
        )
        self._peer: str | None = None  # the last peer asked about, and its answer
        self._peer_trusted = self.trusts(None)

    def trusts(self, host: str | None) -> bool:
        """Whether ``host`` (an address as written in a header or the peer's address) is a trusted proxy."""
        if self.any:
            return True
        if not host:
            return False
        if _DOTTED_QUAD.fullmatch(host):
            n = int.from_bytes(socket.inet_aton(host), "big")
            return n in self._v4 or any(n & mask == net for net, mask in self._v4_networks)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host in self.literals
        return ip in self.addresses or any(ip in net for net in self.networks)

    def client_of(self, x_forwarded_for: str) -> tuple[str, int]:
        """The client named by a (joined) ``X-Forwarded-For`` value: the right-most untrusted entry."""
        hosts = [item.strip() for item in x_forwarded_for.split(",")]
        if not self.any:
            for entry in reversed(hosts):
                host, port = _host_port(entry)
                if not self.trusts(host):
                    return host, port
        return _host_port(hosts[0])

    def apply(self, scope: MutableMapping[str, Any]) -> None:
        """Set ``scope``'s client and scheme from the forwarding headers if its peer is trusted (HTTP and
        websocket scopes; others are left alone)."""
        if scope["type"] not in ("http", "websocket"):
            return
        client = scope.get("client")
        peer = client[0] if client else None
        if peer == self._peer:  # requests come from a few proxies: the last peer's answer is kept
            trusted = self._peer_trusted
        else:
            trusted = self.trusts(peer)
            self._peer, self._peer_trusted = peer, trusted
        if not trusted:
            return
        proto: bytes | None = None
        forwarded: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.append(value)
            elif name == b"x-forwarded-proto":
                proto = value
        if proto is not None:
            scheme = proto.decode("latin-1").strip()
            if scheme in _SCHEMES:
                scope["scheme"] = scheme.replace("http", "ws") if scope["type"] == "websocket" else scheme
        if forwarded:
            host, port = self.client_of(b", ".join(forwarded).decode("latin-1"))
            if host:  # an empty header names nobody: the peer stays the client
                scope["client"] = (host, port)


def _host_port(value: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` → (host, port or 0); anything odd is a host without a port."""
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return value, 0
        host, rest = value[1:end], value[end + 1 :]
        if not rest:
            return host, 0
        if not rest.startswith(":"):
            return value, 0
        try:
            return host, int(rest[1:])
        except ValueError:
            return host, 0
    if value.count(":") == 1:
        host, port = value.rsplit(":", 1)
        try:
            return host, int(port)
        except ValueError:
            return value, 0
    return value, 0

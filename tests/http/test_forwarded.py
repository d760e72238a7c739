"""``hub.http.forwarded`` against uvicorn's ``ProxyHeadersMiddleware``: the same scope, always.

``TrustedProxies.apply`` reimplements uvicorn's proxy-header rule with a fast path for canonical dotted
quads. The property tests here run both over generated trusted specs and scopes and require the very same
resulting scope; the hand-worked examples pin the rule itself (expected values worked out from the rule,
and checked against uvicorn too); the ``trusts`` tests pin the fast path at network edges and for
IPv4-mapped IPv6 forms.
"""

# ruff: noqa: S104  # addresses such as 0.0.0.0 are data here, nothing binds to them

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable, Coroutine, MutableMapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from hub.http.forwarded import TrustedProxies

Scope = dict[str, Any]
Spec = str | list[str]

# --------------------------------------------------------------------------------------------------
# Running both implementations


def _run_to_end(coro: Coroutine[Any, Any, None]) -> None:
    """Drive a coroutine that never suspends (the middleware over an app that only records)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise AssertionError("the middleware suspended; the capture app never awaits")


def uvicorn_scope(spec: Spec | Sequence[str], scope: Scope) -> Scope:
    """The scope the app behind uvicorn's ``ProxyHeadersMiddleware(app, trusted_hosts=spec)`` receives."""
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)

    async def receive() -> dict[str, Any]:  # pragma: no cover - never called
        raise AssertionError

    async def send(message: Any) -> None:  # pragma: no cover - never called
        raise AssertionError

    middleware = ProxyHeadersMiddleware(app, trusted_hosts=spec)  # type: ignore[arg-type]
    _run_to_end(middleware(copy.deepcopy(scope), receive, send))  # type: ignore[arg-type]
    assert len(seen) == 1
    return seen[0]


def uvicorn_trusted(spec: Spec | Sequence[str]) -> Any:
    """uvicorn's trusted-host container for ``spec`` (``host in`` it is uvicorn's answer)."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        raise AssertionError

    return ProxyHeadersMiddleware(app, trusted_hosts=spec).trusted_hosts  # type: ignore[arg-type]


def our_scope(spec: Spec | Sequence[str], scope: Scope) -> Scope:
    copied: MutableMapping[str, Any] = copy.deepcopy(scope)
    TrustedProxies(spec).apply(copied)
    return dict(copied)


IMPLEMENTATIONS: dict[str, Callable[[Spec | Sequence[str], Scope], Scope]] = {
    "ours": our_scope,
    "uvicorn": uvicorn_scope,
}


def make_scope(
    peer: str | None,
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    kind: str = "http",
    peer_port: int = 50000,
) -> Scope:
    return {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws" if kind == "websocket" else "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": None if peer is None else (peer, peer_port),
        "server": ("10.9.9.9", 8000),
    }


# --------------------------------------------------------------------------------------------------
# Strategies

LATIN1 = st.characters(min_codepoint=0, max_codepoint=255)

FIXED_SPEC_ITEMS = [
    "127.0.0.1",
    "::1",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "203.0.113.0/24",
    "198.51.100.128/25",
    "127.0.0.1/32",
    "100.64.0.0/10",
    "2001:db8::/32",
    "::ffff:127.0.0.1",
    "::ffff:0:0/96",
    "fe80::1%eth0",
    "10.0.0.1/8",  # not a strict network: a literal
    "2001:db8::1/32",  # likewise
    "010.0.0.1",  # leading zero: not an address, a literal
    "1.2.3",
    "256.1.1.1",
    "unix:/tmp/x",
    "*",
    "",
    "garbage",
    " 127.0.0.1",  # only stripped when the spec is a string
    "10.0.0.0/255.0.0.0",
    "10.0.0.0/0.255.255.255",
]

ODD_HOSTS = [
    "",
    "010.0.0.1",
    "10.0.0.01",
    "01.2.3.4",
    "1.2.3",
    "127.1",
    "256.1.1.1",
    "1.2.3.4.5",
    "0x7f.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "::1",
    "::ffff:127.0.0.1",
    "::FFFF:7F00:1",
    "0:0:0:0:0:ffff:a00:1",
    "::ffff:10.0.0.1",
    "fe80::1%eth0",
    "2001:DB8::1",
    "garbage",
    "unix:/tmp/x",
    "*",
    "1.2.3.4\xa0",
    "1.2.3.4/32",
    "10.0.0.1/8",
    " 127.0.0.1",
    "127.0.0.1 ",
    "\xb9.2.3.4",
]


@st.composite
def v4_networks(draw: st.DrawFn) -> str:
    address = draw(st.ip_addresses(v=4))
    prefix = draw(st.integers(0, 32))
    if draw(st.booleans()):
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return f"{address}/{prefix}"  # often not a strict network: a literal for both


@st.composite
def v6_networks(draw: st.DrawFn) -> str:
    address = draw(st.ip_addresses(v=6))
    prefix = draw(st.integers(0, 128))
    if draw(st.booleans()):
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return f"{address}/{prefix}"


spec_items = st.one_of(
    st.sampled_from(FIXED_SPEC_ITEMS),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    v4_networks(),
    v6_networks(),
    st.text(LATIN1, max_size=8),
)


@st.composite
def specs(draw: st.DrawFn) -> tuple[Spec, list[str]]:
    """A trusted spec (a string or a list) and its items (for drawing addresses near them)."""
    mode = draw(st.sampled_from(["items"] * 18 + ["star", "empty"]))  # the first is the most frequent
    if mode == "star":
        return ("*", ["*"]) if draw(st.booleans()) else (["*"], ["*"])
    items = draw(st.lists(spec_items, min_size=0 if mode == "empty" else 1, max_size=0 if mode == "empty" else 5))
    if draw(st.booleans()):
        return items, items
    separators = draw(st.lists(st.sampled_from([",", ", ", " ,", " , ", ",  "]), min_size=len(items)))
    text = items[0] if items else ""
    for item, sep in zip(items[1:], separators, strict=False):
        text += sep + item
    if draw(st.booleans()):
        text = " " + text + " "
    return text, items


def _near(item: str) -> list[str]:
    """Hosts at and around one spec item: the address itself (and other spellings), network edges."""
    item = item.strip()
    out = [item, item]  # the trusted spellings are repeated to be drawn more often
    try:
        if "/" in item:
            net = ipaddress.ip_network(item)
            top = 2 ** (32 if net.version == 4 else 128) - 1
            lo, hi = int(net.network_address), int(net.broadcast_address)
            inside = [lo, hi, (lo + hi) // 2] * 2
            candidates = [*inside, max(lo - 1, 0), min(hi + 1, top)]
            out += [str(ipaddress.ip_address(n) if net.version == 6 else ipaddress.IPv4Address(n)) for n in candidates]
            if net.version == 4:
                out += [f"::ffff:{ipaddress.IPv4Address(n)}" for n in candidates]
        else:
            address = ipaddress.ip_address(item)
            out += [str(address)] * 4
            if address.version == 4:
                out += [
                    f"::ffff:{address}",
                    "0" + str(address),
                    ".".join(f"{int(p):03d}" for p in str(address).split(".")),
                ]
            else:
                out += [address.exploded, address.exploded.upper()]
                if address.ipv4_mapped is not None:
                    out += [str(address.ipv4_mapped)]
    except ValueError:
        pass
    return out


@st.composite
def hosts(draw: st.DrawFn, items: Sequence[str], near_percent: int = 40) -> str:
    """A host: with ``near_percent`` % chance one at or around a spec item (so that the trusted branches
    are really exercised), otherwise any address, odd spelling or text."""
    near = [h for item in items for h in _near(item)]
    if near and draw(st.integers(0, 99)) < near_percent:
        return str(draw(st.sampled_from(near)))
    host: str = draw(
        st.one_of(
            st.ip_addresses(v=4).map(str),
            st.ip_addresses(v=6).map(str),
            st.ip_addresses(v=6).map(lambda a: a.exploded),
            st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
            st.sampled_from(ODD_HOSTS),
            st.text(LATIN1, max_size=10),
        )
    )
    return host


PORTS = st.one_of(
    st.integers(0, 70000).map(str),
    st.sampled_from(["", "abc", "-1", "+5", " 80", "80 ", "1_0", "\xb2", "0x50", "443]"]),
)


@st.composite
def xff_entries(draw: st.DrawFn, items: Sequence[str], near_percent: int) -> str:
    host = draw(hosts(items, near_percent))
    port = draw(PORTS)
    form = draw(st.integers(0, 8))
    entry = {
        0: host,
        1: host,
        2: f"{host}:{port}",
        3: f"[{host}]:{port}",
        4: f"[{host}]",
        5: f"[{host}",
        6: f"[{host}]{port}",
        7: f"{host}:{port}:{port}",
        8: draw(st.sampled_from(["", " ", "garbage", "[::1]:80", "[::1]", "a.b.c.d", "a.b.c.d:1234", "[]:1"])),
    }[form]
    if draw(st.booleans()):
        entry = draw(st.sampled_from([" ", "  ", "\t", "\xa0", "\x85"])) + entry
    if draw(st.booleans()):
        entry += draw(st.sampled_from([" ", "\t", "\xa0"]))
    return entry


PROTOS = st.one_of(
    st.sampled_from(["https", "http", "ws", "wss"]),
    st.sampled_from(["https", "http", "ws", "wss", " HTTPS", "HTTPS", " https ", "ftp", "", "\xa0https", "https\x85"]),
    st.text(LATIN1, max_size=6),
)


@st.composite
def scopes(draw: st.DrawFn, items: Sequence[str]) -> Scope:
    kind = draw(st.sampled_from(["http", "websocket"]))
    headers: list[tuple[bytes, bytes]] = []
    chain = draw(st.integers(0, 3)) == 0  # a chain of (mostly) trusted proxies
    for _ in range(draw(st.sampled_from([1, 0, 2, 3]))):  # the first is the most frequent
        entries = draw(st.lists(xff_entries(items, 95 if chain else 40), min_size=2 if chain else 0, max_size=4))
        sep = draw(st.sampled_from([",", ", ", " ,"]))
        headers.append((b"x-forwarded-for", sep.join(entries).encode("latin-1")))
    for _ in range(draw(st.sampled_from([1, 0, 2, 3]))):
        headers.append((b"x-forwarded-proto", draw(PROTOS).encode("latin-1")))
    if draw(st.booleans()):
        headers.append((b"host", b"hub.example"))
    if draw(st.integers(0, 9)) == 0:
        # Not lower-cased as ASGI requires: both must ignore it.
        headers.append((b"X-Forwarded-For", b"192.0.2.99"))
    headers = draw(st.permutations(headers))
    peer_kind = draw(st.integers(0, 9))  # (hypothesis favours the smallest choice: make it a peer)
    if peer_kind == 8:
        scope = make_scope(None, headers, kind=kind)
    elif peer_kind == 9:
        scope = make_scope(None, headers, kind=kind)
        del scope["client"]
    else:
        scope = make_scope(draw(hosts(items, 70)), headers, kind=kind, peer_port=draw(st.integers(0, 65535)))
    return scope


@st.composite
def cases(draw: st.DrawFn) -> tuple[Spec, Scope]:
    spec, items = draw(specs())
    return spec, draw(scopes(items))


# --------------------------------------------------------------------------------------------------
# 1. Equivalence with uvicorn


def _describe(spec: Spec, scope: Scope, result: Scope) -> None:
    client = scope.get("client")
    trusted = (client[0] if client else None) in uvicorn_trusted(spec)
    event(f"peer trusted: {trusted}")
    event(f"client replaced: {result.get('client') != scope.get('client')}")
    event(f"scheme changed: {result['scheme'] != scope['scheme']}")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_apply_changes_the_scope_exactly_as_uvicorn(case: tuple[Spec, Scope]) -> None:
    spec, scope = case
    expected = uvicorn_scope(spec, scope)
    got = our_scope(spec, scope)
    _describe(spec, scope, expected)
    assert got.get("client") == expected.get("client")
    assert got["scheme"] == expected["scheme"]
    assert got == expected  # and nothing else touched


@settings(max_examples=500, deadline=None)
@given(specs(), st.data())
def test_trusts_agrees_with_uvicorn_for_any_host(spec_and_items: tuple[Spec, list[str]], data: st.DataObject) -> None:
    spec, items = spec_and_items
    host = data.draw(st.one_of(st.none(), hosts(items)))
    reference = uvicorn_trusted(spec)
    assert TrustedProxies(spec).trusts(host) == (host in reference)


def _outcome(case: tuple[Spec, Scope]) -> tuple[bool, Scope]:
    spec, scope = case
    reference = uvicorn_trusted(spec)
    client = scope.get("client")
    return (client[0] if client else None) in reference, uvicorn_scope(spec, scope)


def _xff(scope: Scope) -> list[str]:
    joined = b", ".join(v for n, v in scope["headers"] if n == b"x-forwarded-for").decode("latin-1")
    return [e.strip() for e in joined.split(",")] if joined else []


COVERAGE = settings(max_examples=3000, deadline=None, database=None, derandomize=True, phases=[Phase.generate])


def _is_spec_address(spec: Spec, host: str) -> bool:
    items = [i.strip() for i in spec.split(",")] if isinstance(spec, str) else spec
    return host in items


@pytest.mark.parametrize(
    "name",
    [
        "trusted peer, client taken from X-Forwarded-For",
        "untrusted peer with X-Forwarded-For, headers ignored",
        "dotted-quad peer trusted through a network",
        "all entries trusted: the left-most one",
        "scheme set from X-Forwarded-Proto",
        "trusted peer, empty X-Forwarded-For: client unchanged",
    ],
)
def test_the_generated_cases_reach_every_branch(name: str) -> None:
    """The strategy behind the equivalence test really produces each branch of the rule."""

    def trusted_and_replaced(case: tuple[Spec, Scope]) -> bool:
        trusted, result = _outcome(case)
        return trusted and case[0] not in ("*", ["*"]) and result["client"] != case[1].get("client")

    def untrusted_with_xff(case: tuple[Spec, Scope]) -> bool:
        trusted, result = _outcome(case)
        return not trusted and any(_xff(case[1])) and result == case[1]

    def quad_via_network(case: tuple[Spec, Scope]) -> bool:
        spec, scope = case
        trusted, _ = _outcome(case)
        client = scope.get("client")
        if not (trusted and client and spec not in ("*", ["*"])):
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return address.version == 4 and str(address) == client[0] and not _is_spec_address(spec, client[0])

    def all_trusted_left_most(case: tuple[Spec, Scope]) -> bool:
        spec, scope = case
        trusted, result = _outcome(case)
        entries = _xff(scope)
        if not (trusted and spec not in ("*", ["*"]) and len(entries) >= 2 and entries[0]):
            return False
        reference = uvicorn_trusted(spec)
        return all(e in reference for e in entries) and bool(result["client"][0] == entries[0])

    def scheme_set(case: tuple[Spec, Scope]) -> bool:
        _, result = _outcome(case)
        return bool(result["scheme"] != case[1]["scheme"])

    def empty_xff(case: tuple[Spec, Scope]) -> bool:
        trusted, result = _outcome(case)
        headers = case[1]["headers"]
        return (
            trusted
            and any(n == b"x-forwarded-for" for n, _ in headers)
            and not any(_xff(case[1]))
            and result["client"] == case[1]["client"]
        )

    condition = {
        "trusted peer, client taken from X-Forwarded-For": trusted_and_replaced,
        "untrusted peer with X-Forwarded-For, headers ignored": untrusted_with_xff,
        "dotted-quad peer trusted through a network": quad_via_network,
        "all entries trusted: the left-most one": all_trusted_left_most,
        "scheme set from X-Forwarded-Proto": scheme_set,
        "trusted peer, empty X-Forwarded-For: client unchanged": empty_xff,
    }[name]
    example = find(cases(), condition, settings=COVERAGE)
    spec, scope = example
    assert our_scope(spec, scope) == uvicorn_scope(spec, scope)


# --------------------------------------------------------------------------------------------------
# 2. Hand-worked examples of the rule (checked against both implementations)

XFF = b"x-forwarded-for"
XFP = b"x-forwarded-proto"


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def run(request: pytest.FixtureRequest) -> Callable[[Spec | Sequence[str], Scope], Scope]:
    return IMPLEMENTATIONS[request.param]


def test_trusted_peer_takes_the_forwarded_client(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1,::1", make_scope("127.0.0.1", [(XFF, b"203.0.113.7")]))
    assert result["client"] == ("203.0.113.7", 0)


def test_trusted_proxies_in_the_chain_are_skipped(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1,10.0.0.0/8", make_scope("127.0.0.1", [(XFF, b"203.0.113.7, 10.1.2.3")]))
    assert result["client"] == ("203.0.113.7", 0)


def test_the_right_most_untrusted_entry_wins(run: Callable[..., Scope]) -> None:
    # 198.51.100.9 could be forged by the client; 203.0.113.7 is what the first trusted proxy saw.
    scope = make_scope("127.0.0.1", [(XFF, b"198.51.100.9, 203.0.113.7, 10.1.2.3")])
    assert run("127.0.0.1, 10.0.0.0/8", scope)["client"] == ("203.0.113.7", 0)


def test_several_headers_are_one_list(run: Callable[..., Scope]) -> None:
    scope = make_scope("127.0.0.1", [(XFF, b"203.0.113.7"), (XFF, b"10.1.2.3")])
    assert run("127.0.0.1,10.0.0.0/8", scope)["client"] == ("203.0.113.7", 0)


def test_all_trusted_gives_the_left_most(run: Callable[..., Scope]) -> None:
    scope = make_scope("127.0.0.1", [(XFF, b"10.1.1.1, 10.2.2.2, 127.0.0.1")])
    assert run("127.0.0.1,10.0.0.0/8", scope)["client"] == ("10.1.1.1", 0)


def test_untrusted_peer_headers_are_ignored(run: Callable[..., Scope]) -> None:
    scope = make_scope("198.51.100.1", [(XFF, b"203.0.113.7"), (XFP, b"https")], peer_port=41000)
    result = run("127.0.0.1,::1", scope)
    assert result["client"] == ("198.51.100.1", 41000)
    assert result["scheme"] == "http"


def test_no_client_is_never_trusted(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1", make_scope(None, [(XFF, b"203.0.113.7")]))
    assert result["client"] is None


def test_ipv4_port(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1", make_scope("127.0.0.1", [(XFF, b"198.51.100.2:4567")]))
    assert result["client"] == ("198.51.100.2", 4567)


def test_bracketed_ipv6_port(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1", make_scope("127.0.0.1", [(XFF, b"[2001:db8::1]:443")]))
    assert result["client"] == ("2001:db8::1", 443)


def test_bare_ipv6_has_no_port(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1", make_scope("127.0.0.1", [(XFF, b"2001:db8::1")]))
    assert result["client"] == ("2001:db8::1", 0)


def test_ipv6_peer_trusted(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1,::1", make_scope("::1", [(XFF, b"203.0.113.7")]))
    assert result["client"] == ("203.0.113.7", 0)


def test_empty_header_leaves_the_client(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1", make_scope("127.0.0.1", [(XFF, b"")], peer_port=1234))
    assert result["client"] == ("127.0.0.1", 1234)


def test_forwarded_proto_https(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1", make_scope("127.0.0.1", [(XFP, b"https")]))
    assert result["scheme"] == "https"
    assert result["client"] == ("127.0.0.1", 50000)


def test_forwarded_proto_is_stripped_but_case_sensitive(run: Callable[..., Scope]) -> None:
    assert run("127.0.0.1", make_scope("127.0.0.1", [(XFP, b" https ")]))["scheme"] == "https"
    assert run("127.0.0.1", make_scope("127.0.0.1", [(XFP, b"HTTPS")]))["scheme"] == "http"


def test_the_last_forwarded_proto_counts(run: Callable[..., Scope]) -> None:
    scope = make_scope("127.0.0.1", [(XFP, b"https"), (XFP, b"http")], kind="http")
    assert run("127.0.0.1", scope)["scheme"] == "http"
    scope = make_scope("127.0.0.1", [(XFP, b"http"), (XFP, b"ftp")], kind="http")
    assert run("127.0.0.1", scope)["scheme"] == "http"  # the last one is not a scheme: no change
    scope = make_scope("127.0.0.1", [(XFP, b"http"), (XFP, b"https")], kind="http")
    assert run("127.0.0.1", scope)["scheme"] == "https"


def test_unknown_proto_leaves_the_scheme(run: Callable[..., Scope]) -> None:
    assert run("127.0.0.1", make_scope("127.0.0.1", [(XFP, b"ftp")]))["scheme"] == "http"


def test_websocket_https_becomes_wss(run: Callable[..., Scope]) -> None:
    result = run("127.0.0.1", make_scope("127.0.0.1", [(XFP, b"https")], kind="websocket"))
    assert result["scheme"] == "wss"
    result = run("127.0.0.1", make_scope("127.0.0.1", [(XFP, b"http")], kind="websocket"))
    assert result["scheme"] == "ws"


def test_star_trusts_any_peer_and_every_entry(run: Callable[..., Scope]) -> None:
    scope = make_scope("198.51.100.1", [(XFF, b"203.0.113.7, 10.1.2.3"), (XFP, b"https")])
    result = run("*", scope)
    assert result["client"] == ("203.0.113.7", 0)  # everything trusted: the left-most
    assert result["scheme"] == "https"
    assert run(["*"], scope)["client"] == ("203.0.113.7", 0)


def test_star_among_others_is_a_literal(run: Callable[..., Scope]) -> None:
    scope = make_scope("198.51.100.1", [(XFF, b"203.0.113.7")], peer_port=7)
    assert run("127.0.0.1,*", scope)["client"] == ("198.51.100.1", 7)


def test_non_strict_network_is_a_literal(run: Callable[..., Scope]) -> None:
    # "10.0.0.1/8" has host bits set: not a network, so 10.0.0.1 is not trusted by it ...
    scope = make_scope("10.0.0.1", [(XFF, b"203.0.113.7")], peer_port=9)
    assert run("10.0.0.1/8", scope)["client"] == ("10.0.0.1", 9)
    # ... but the same text in a header matches the literal.
    scope = make_scope("127.0.0.1", [(XFF, b"203.0.113.7, 10.0.0.1/8")])
    assert run("127.0.0.1,10.0.0.1/8", scope)["client"] == ("203.0.113.7", 0)


def test_unix_socket_literal(run: Callable[..., Scope]) -> None:
    result = run("unix:/tmp/x", make_scope("unix:/tmp/x", [(XFF, b"203.0.113.7")]))
    assert result["client"] == ("203.0.113.7", 0)


def test_leading_zero_peer_is_not_the_address(run: Callable[..., Scope]) -> None:
    scope = make_scope("010.0.0.1", [(XFF, b"203.0.113.7")], peer_port=5)
    assert run("10.0.0.1,10.0.0.0/8", scope)["client"] == ("010.0.0.1", 5)


def test_mapped_ipv6_peer_is_not_the_ipv4_address(run: Callable[..., Scope]) -> None:
    scope = make_scope("::ffff:127.0.0.1", [(XFF, b"203.0.113.7")], peer_port=5)
    assert run("127.0.0.1", scope)["client"] == ("::ffff:127.0.0.1", 5)


def test_garbage_entry_becomes_the_client(run: Callable[..., Scope]) -> None:
    # The rule does not validate the entry: the right-most untrusted one is the client, as written.
    scope = make_scope("127.0.0.1", [(XFF, b"203.0.113.7, garbage")])
    assert run("127.0.0.1", scope)["client"] == ("garbage", 0)


def test_tuple_star_spec_agrees_with_uvicorn() -> None:
    """``TrustedProxies(("*",))`` trusts everyone; uvicorn only treats ``"*"`` and ``["*"]`` as "any" and
    takes the ``"*"`` of a tuple as a literal, so it trusts nobody here. (Known to fail: the disagreement
    is reported; a tuple is outside uvicorn's ``list[str] | str`` annotation.)"""
    spec = ("*",)
    scope = make_scope("198.51.100.1", [(XFF, b"203.0.113.7")], peer_port=7)
    assert our_scope(spec, scope) == uvicorn_scope(spec, scope)


def test_lifespan_scope_is_left_alone() -> None:
    """uvicorn passes a lifespan scope through untouched whatever the spec; ``apply`` must not fail on it
    (with ``"*"`` it looks for headers a lifespan scope does not have). Known to fail: reported."""
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    for spec in ("127.0.0.1", "*"):
        assert uvicorn_scope(spec, scope) == scope
        assert our_scope(spec, scope) == scope


# --------------------------------------------------------------------------------------------------
# 3. The dotted-quad fast path of ``trusts``


@pytest.mark.parametrize(
    ("spec", "host", "trusted"),
    [
        ("10.0.0.0/8", "9.255.255.255", False),
        ("10.0.0.0/8", "10.0.0.0", True),
        ("10.0.0.0/8", "10.0.0.1", True),
        ("10.0.0.0/8", "10.255.255.255", True),
        ("10.0.0.0/8", "11.0.0.0", False),
        ("172.16.0.0/12", "172.15.255.255", False),
        ("172.16.0.0/12", "172.16.0.0", True),
        ("172.16.0.0/12", "172.31.255.255", True),
        ("172.16.0.0/12", "172.32.0.0", False),
        ("198.51.100.128/25", "198.51.100.127", False),
        ("198.51.100.128/25", "198.51.100.128", True),
        ("198.51.100.128/25", "198.51.100.255", True),
        ("198.51.100.128/25", "198.51.101.0", False),
        ("203.0.113.7/32", "203.0.113.6", False),
        ("203.0.113.7/32", "203.0.113.7", True),
        ("203.0.113.7/32", "203.0.113.8", False),
        ("0.0.0.0/0", "0.0.0.0", True),
        ("0.0.0.0/0", "255.255.255.255", True),
        ("0.0.0.0/0", "::1", False),
        ("10.0.0.0/255.0.0.0", "10.1.2.3", True),
        ("10.0.0.0/255.0.0.0", "11.1.2.3", False),
        ("10.0.0.1/8", "10.0.0.1", False),  # not a strict network: a literal
        ("10.0.0.1/8", "10.0.0.1/8", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("127.0.0.1", "127.0.0.01", False),
        ("127.0.0.1", "127.1", False),
        ("10.0.0.0/8", "010.0.0.1", False),
        ("010.0.0.1", "010.0.0.1", True),  # a literal, matched as text
        ("010.0.0.1", "10.0.0.1", False),
        ("256.1.1.1", "256.1.1.1", True),
        ("1.2.3", "1.2.3", True),
        ("1.2.3", "1.2.3.0", False),
        ("255.255.255.255", "255.255.255.255", True),
        ("0.0.0.0", "0.0.0.0", True),
        ("0.0.0.0", "0.0.0.00", False),
        # IPv4-mapped IPv6 is never the IPv4 address, nor in an IPv4 network, and vice versa.
        ("127.0.0.1", "::ffff:127.0.0.1", False),
        ("127.0.0.1", "::ffff:7f00:1", False),
        ("10.0.0.0/8", "::ffff:10.0.0.1", False),
        ("::ffff:127.0.0.1", "127.0.0.1", False),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1", True),
        ("::ffff:127.0.0.1", "::FFFF:7F00:1", True),
        ("::ffff:127.0.0.1", "0:0:0:0:0:ffff:7f00:1", True),
        ("::ffff:0:0/96", "10.0.0.1", False),
        ("::ffff:0:0/96", "::ffff:10.0.0.1", True),
        ("::/0", "10.0.0.1", False),
        ("::1", "127.0.0.1", False),
        ("127.0.0.1,10.0.0.0/8", "10.20.30.40", True),
        ("127.0.0.1,10.0.0.0/8", "", False),
        ("0.0.0.0/0", "١.٢.٣.٤", False),  # non-ASCII digits: not an address
        ("0.0.0.0/0", "\xb9.2.3.4", False),
    ],
)
def test_trusts_at_the_edges(spec: str, host: str, trusted: bool) -> None:
    assert TrustedProxies(spec).trusts(host) is trusted
    reference = uvicorn_trusted(spec)
    assert (host in reference) is trusted


@settings(max_examples=500, deadline=None)
@given(st.ip_addresses(v=4), st.integers(0, 32), st.data())
def test_fast_path_matches_ipaddress_at_network_edges(
    base: ipaddress.IPv4Address, prefix: int, data: st.DataObject
) -> None:
    net = ipaddress.IPv4Network(f"{base}/{prefix}", strict=False)
    lo, hi = int(net.network_address), int(net.broadcast_address)
    edges = {n for n in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1) if 0 <= n < 2**32}
    edges.add(data.draw(st.integers(0, 2**32 - 1)))
    extra = data.draw(st.ip_addresses(v=4))
    proxies = TrustedProxies(f"{net}, {extra}")
    for n in edges | {int(extra)}:
        address = ipaddress.IPv4Address(n)
        expected = address in net or address == extra
        assert proxies.trusts(str(address)) is expected, (str(net), str(extra), str(address))
        # The IPv4-mapped form is an IPv6 address: never trusted by IPv4 entries.
        assert proxies.trusts(f"::ffff:{address}") is False
        assert proxies.trusts(str(ipaddress.IPv6Address(f"::ffff:{address}"))) is False


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses(v=4))
def test_mapped_spec_never_trusts_the_ipv4_form(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    proxies = TrustedProxies([str(mapped)])
    assert proxies.trusts(str(address)) is False
    assert proxies.trusts(str(mapped)) is True
    assert proxies.trusts(mapped.exploded) is True


def test_one_instance_answers_each_peer_by_its_own_trust() -> None:
    """``apply`` keeps the last peer's answer: alternating trusted and untrusted peers on one instance must
    each be answered by their own trust, never the previous peer's."""
    proxies = TrustedProxies("127.0.0.1,10.0.0.0/8")
    peers = ["127.0.0.1", "198.51.100.4", "198.51.100.4", "10.2.3.4", "127.0.0.1", "198.51.100.5", None]
    expected_client = {
        "127.0.0.1": ("203.0.113.50", 0),
        "10.2.3.4": ("203.0.113.50", 0),
        "198.51.100.4": ("198.51.100.4", 1234),
        "198.51.100.5": ("198.51.100.5", 1234),
    }
    for peer in peers:
        scope: dict[str, Any] = {
            "type": "http",
            "client": (peer, 1234) if peer is not None else None,
            "scheme": "http",
            "headers": [(b"x-forwarded-for", b"203.0.113.50")],
        }
        proxies.apply(scope)
        assert scope["client"] == (expected_client[peer] if peer is not None else None), peer

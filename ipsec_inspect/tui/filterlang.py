"""The filter bar's expression language: parse as the user types, then test rows.

Why a tiny language rather than free text: filtering a million packets must be exact
and fast, and a typo must be reported at once with where it is, not silently match
nothing. The grammar (documented for users in ``docs/tui.md``)::

    expr  := or
    or    := and ("or" and)*
    and   := unary (["and"] unary)*        juxtaposition means "and"
    unary := ("not" | "!") unary | "(" expr ")" | term
    term  := NAME ":" VALUE                 NAME: spi peer proto exchange stage finding

No Textual imports: the packet list and its tests evaluate compiled filters directly.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ipsec_inspect.lifecycle.model import Stage

FIELDS = ("spi", "peer", "proto", "exchange", "stage", "finding")
PROTOCOLS = ("ike", "esp", "ah", "keepalive", "malformed")
SEVERITIES = ("critical", "high", "medium", "low", "info")

_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<bang>!)|(?P<word>[^\s()!]+))")


class FilterError(ValueError):
    """A filter that does not parse; ``position`` is the character it went wrong at."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


class RowFacts(Protocol):
    """What a filter may ask about one packet-list row (see ``tui/catalog.py``)."""

    def spis(self, row: int) -> tuple[int | bytes, ...]: ...
    def peers(self, row: int) -> tuple[str, ...]: ...
    def proto(self, row: int) -> str: ...
    def exchange(self, row: int) -> str | None: ...
    def stage(self, row: int) -> Stage | None: ...
    def findings(self, row: int) -> frozenset[str]: ...


Predicate = Callable[[RowFacts, int], bool]


@dataclass(frozen=True)
class Filter:
    """A compiled filter: the source text and the predicate it stands for."""

    text: str
    test: Predicate
    #: True when every term depends only on the row's flow (SPI, protocol, finding):
    #: the list can then be filtered per flow instead of per row.
    per_flow: bool

    def __call__(self, facts: RowFacts, row: int) -> bool:
        return self.test(facts, row)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        kind = m.lastgroup or "word"
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def _spi_value(value: str, at: int) -> tuple[int | bytes, ...]:
    text = value.lower().removeprefix("0x").replace(":", "")
    if not text or not re.fullmatch(r"[0-9a-f]+", text) or len(text) > 16:
        raise FilterError(f"spi:{value} is not a hexadecimal SPI (up to 16 digits)", at)
    n = int(text, 16)
    if len(text) > 8:
        return (n.to_bytes(8, "big"),)
    return (n, n.to_bytes(8, "big"))


def _peer_value(value: str, at: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise FilterError(f"peer:{value} is not an IP address or prefix", at) from None


def _one_of(name: str, value: str, choices: tuple[str, ...], at: int) -> str:
    hits = [c for c in choices if c.startswith(value.lower())]
    if len(hits) == 1 or value.lower() in choices:
        return value.lower() if value.lower() in choices else hits[0]
    raise FilterError(f"{name}:{value} is not one of {', '.join(choices)}", at)


def _term(name: str, value: str, at: int) -> tuple[Predicate, bool]:
    """One ``name:value`` test and whether it is decided by the row's flow alone."""
    if not value:
        raise FilterError(f"{name}: needs a value", at)
    if name == "spi":
        wanted = frozenset(_spi_value(value, at))
        return (lambda f, r: any(s in wanted for s in f.spis(r))), True
    if name == "peer":
        net = _peer_value(value, at)
        return (lambda f, r: any(_in(p, net) for p in f.peers(r))), False
    if name == "proto":
        proto = _one_of("proto", value, PROTOCOLS, at)
        return (lambda f, r: f.proto(r) == proto), True
    if name == "exchange":
        want = _norm(value)
        return (lambda f, r: want in _norm(f.exchange(r) or "")), False
    if name == "stage":
        stage = Stage(_one_of("stage", value, tuple(s.value for s in Stage), at))
        return (lambda f, r: f.stage(r) is stage), False
    if name == "finding":
        key = value.upper() if value.lower() not in (*SEVERITIES, "any") else value.lower()
        if key == "any":
            return (lambda f, r: bool(f.findings(r))), True
        return (lambda f, r: key in f.findings(r)), True
    raise FilterError(f"unknown filter {name!r}: use one of {', '.join(FIELDS)}", at)


def _norm(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.upper())


def _in(addr: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(addr) in net
    except ValueError:
        return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> tuple[Predicate, bool]:
        pred, flow = self.or_()
        tok = self.peek()
        if tok is not None:
            raise FilterError(f"unexpected {tok[1]!r}", tok[2])
        return pred, flow

    def or_(self) -> tuple[Predicate, bool]:
        left, flow = self.and_()
        while (tok := self.peek()) is not None and tok[0] == "word" and tok[1].lower() == "or":
            self.i += 1
            right, rflow = self.and_()
            left = _either(left, right)
            flow = flow and rflow
        return left, flow

    def and_(self) -> tuple[Predicate, bool]:
        left, flow = self.unary()
        while (tok := self.peek()) is not None and not (
            tok[1] == ")" or (tok[0] == "word" and tok[1].lower() == "or")
        ):
            if tok[0] == "word" and tok[1].lower() == "and":
                self.i += 1
            right, rflow = self.unary()
            left = _both(left, right)
            flow = flow and rflow
        return left, flow

    def unary(self) -> tuple[Predicate, bool]:
        tok = self.peek()
        if tok is None:
            raise FilterError("expression ends too early", len(self.text))
        kind, value, at = tok
        if kind == "bang" or (kind == "word" and value.lower() == "not"):
            self.i += 1
            inner, flow = self.unary()
            return _negate(inner), flow
        if value == "(":
            self.i += 1
            inner, flow = self.or_()
            close = self.peek()
            if close is None or close[1] != ")":
                raise FilterError("missing ')'", close[2] if close else len(self.text))
            self.i += 1
            return inner, flow
        if value == ")":
            raise FilterError("unexpected ')'", at)
        self.i += 1
        name, sep, arg = value.partition(":")
        if not sep:
            name, sep, arg = value.partition("=")
        if not sep:
            raise FilterError(f"{value!r} should be NAME:VALUE ({', '.join(FIELDS)})", at)
        return _term(name.lower(), arg, at + len(name) + 1)


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda f, r: a(f, r) or b(f, r)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda f, r: a(f, r) and b(f, r)


def _negate(a: Predicate) -> Predicate:
    return lambda f, r: not a(f, r)


def parse_filter(text: str) -> Filter | None:
    """Compile ``text``; None for an empty filter; :class:`FilterError` when invalid."""
    if not text.strip():
        return None
    pred, per_flow = _Parser(text).parse()
    return Filter(text, pred, per_flow)

"""The timeline's SA objects and findings written as JSON text directly, not as dicts.

Why: ``export`` of a flood's ~20,000 SAs spent half its time building each SA's dict
(``timeline._ike`` / ``_child``, ~60 values) and the other half in the JSON encoder
walking it again. Here each object is one format string filled from the SA, with the
parts a flood's SAs leave empty (spans with no frames, no suite, no termination) as
fixed text. The bytes are those of ``json.dumps`` of the dict (compact form: ``", "`` and
``": "``, ASCII escapes; the model's counters and frame numbers are ints, written as
``str`` writes them); ``tests/export`` compares the two on every capture of the corpus
and on floods. The dicts stay the definition for ``build_timeline``, the indented
form and anything with keys (``--include-keys`` takes the dict path).
"""

from __future__ import annotations

import json
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _esc
from typing import TYPE_CHECKING, Any

from ipsec_inspect.export.timeline_fields import (
    _address_update,
    _chosen_ids,
    _finding,
    _id_order,
    rfc3339,
)
from ipsec_inspect.lifecycle.model import (
    Certainty,
    ChildSa,
    Direction,
    IkeSa,
    Stage,
    StageSpan,
    Termination,
    child_state,
    ike_state,
)

if TYPE_CHECKING:
    from ipsec_inspect.audit.findings import Finding
    from ipsec_inspect.lifecycle.sequence import SequenceAnalyzer

_HR, _NEG, _CIRCUIT, _TRANS, _TERM = Stage
#: an event's certainty as JSON text without its quotes (plain ASCII words)
_CERTAINTY = {c: c.value for c in Certainty}

#: any other value: the encoder the dict path uses (same separators, no indent)
_encode = json.JSONEncoder(check_circular=False).encode

_EMPTY_SPAN = '{"start": null, "end": null, "start_frame": null, "end_frame": null, "events": []}'
_IKE_CHOSEN = ("encryption", "prf", "integrity", "dh_group")
_CHILD_CHOSEN = ("encryption", "integrity", "esn", "dh_group")
_NO_CHOSEN: dict[tuple[str, ...], str] = {
    k: _encode(dict.fromkeys(k)) for k in (_IKE_CHOSEN, _CHILD_CHOSEN)
}


def _s(v: str | None) -> str:
    """A string or null."""
    return "null" if v is None else _esc(v)


def _n(v: int | None) -> str:
    """An int (not a bool) or null; anything else as the encoder writes it."""
    if v is None:
        return "null"
    return int.__repr__(v) if type(v) is int else _encode(v)


def _any(v: Any) -> str:
    """A value of no fixed type (a list, a dict, a bool): the encoder's text."""
    if v is None:
        return "null"
    if not v and (type(v) is list or type(v) is dict):
        return "[]" if type(v) is list else "{}"
    return _encode(v)


def _chosen(chosen: dict[str, Any], keys: tuple[str, ...]) -> str:
    if not chosen:
        return _NO_CHOSEN[keys]
    return _encode({k: chosen.get(k) for k in keys})


def _certainty(certainty: dict[str, Any]) -> str:
    return _certainty_of(tuple(certainty.items())) if certainty else "{}"


@lru_cache(maxsize=256)
def _certainty_of(items: tuple[tuple[str, Any], ...]) -> str:
    """The certainty dict's text, by its items: a flood's SAs all have the same few."""
    return _encode({k: v.value for k, v in sorted(items)})


@lru_cache(maxsize=4096)
def _time(t: float | None) -> str:
    """``rfc3339(t)`` as JSON (memoised like it: an SA's spans repeat a few times)."""
    text = rfc3339(t)
    return "null" if text is None else _esc(text)


def _span(span: StageSpan) -> str:
    sf, ef, events = span.start_frame, span.end_frame, span.events
    if span.start is None and span.end is None and sf is None and ef is None and not events:
        return _EMPTY_SPAN
    listed = ", ".join(
        [
            f'{{"time": {_time(e.time)}, "frame": {e.frame}, '
            f'"kind": {_esc(e.kind)}, "text": {_esc(e.text)}, '
            f'"certainty": "{_CERTAINTY[e.certainty]}"}}'
            for e in events
        ]
    )
    return (
        f'{{"start": {_time(span.start)}, "end": {_time(span.end)}, '
        f'"start_frame": {"null" if sf is None else sf}, '
        f'"end_frame": {"null" if ef is None else ef}, "events": [{listed}]}}'
    )


def _stages(stages: dict[Stage, StageSpan]) -> str:
    return (
        f'{{"host_recognition": {_span(stages[_HR])}, "negotiation": {_span(stages[_NEG])}, '
        f'"circuit": {_span(stages[_CIRCUIT])}, "transmission": {_span(stages[_TRANS])}, '
        f'"termination": {_span(stages[_TERM])}}}'
    )


def _value(v: Any) -> str:
    """An enum member's value, or null."""
    return "null" if v is None else _esc(v.value)


def _termination(t: Termination | None) -> str:
    """A termination: its time and frame filled into the text of its other fields, which
    the SAs of a flood share (all still active, or all failed for want of an answer)."""
    if t is None:
        return "null"
    head, tail = _termination_parts(
        t.reason,
        t.notify,
        t.stage,
        t.certainty,
        t.detail,
        t.trigger,
        t.trigger_certainty,
        t.trigger_detail,
    )
    frame = t.frame
    return f'{head}{_time(t.time)}, "frame": {"null" if frame is None else _n(frame)}{tail}'


@lru_cache(maxsize=256)
def _termination_parts(reason: Any, notify: Any, *rest: Any) -> tuple[str, str]:
    """A termination's text before its time and after its frame, by its other fields (in
    their order)."""
    t = Termination(reason, None, None, notify, *rest)
    return (
        f'{{"reason": {_esc(t.reason.value)}, "time": ',
        f', "notify": {_s(t.notify)}, "stage": {_value(t.stage)}, '
        f'"detail": {_s(t.detail)}, "certainty": {_esc(t.certainty.value)}, '
        f'"trigger": {_value(t.trigger)}, "trigger_certainty": {_value(t.trigger_certainty)}, '
        f'"trigger_detail": {_s(t.trigger_detail)}}}',
    )


def _seq(s: SequenceAnalyzer) -> str:
    first, last, highest = s.first, s.last, s.highest
    wrong = s.lost or s.replayed or s.out_of_order or s.resets or s.wraps
    if not (wrong or s.window_violations):  # the usual: nothing wrong
        return (
            f'{{"first": {"null" if first is None else first}, '
            f'"last": {"null" if last is None else last}, '
            f'"highest": {"null" if highest is None else highest}, "lost": 0, '
            '"replayed": 0, "out_of_order": 0, "resets": 0, "wraps": 0, '
            f'"window_violations": 0, "window": {_n(s.window)}}}'
        )
    return (
        f'{{"first": {_n(first)}, "last": {_n(last)}, "highest": {_n(highest)}, '
        f'"lost": {_n(s.lost)}, "replayed": {_n(s.replayed)}, '
        f'"out_of_order": {_n(s.out_of_order)}, "resets": {_n(s.resets)}, '
        f'"wraps": {_n(s.wraps)}, "window_violations": {_n(s.window_violations)}, '
        f'"window": {_n(s.window)}}}'
    )


def _direction(d: Direction) -> str:
    decrypted = d.decrypted
    if not decrypted and not d.icv_failures:  # no keys: the decryption figures are nil
        crypto = '"inner_bytes": null, "decrypted": 0, "decrypted_unverified": 0, "icv_failures": 0'
    else:
        crypto = (
            f'"inner_bytes": {_n(d.inner_bytes) if decrypted else "null"}, '
            f'"decrypted": {_n(d.decrypted_verified)}, '
            f'"decrypted_unverified": {_n(d.decrypted_unverified)}, '
            f'"icv_failures": {_n(d.icv_failures)}'
        )
    ff, lf = d.first_frame, d.last_frame
    return (
        f'{{"spi": "{d.spi:08x}", "protocol": {_esc(d.protocol)}, "src": {_esc(d.src)}, '
        f'"dst": {_esc(d.dst)}, "packets": {d.packets}, "bytes": {d.byte_count}, '
        f'{crypto}, "seq": {_seq(d.seq)}, '
        f'"first_time": {_time(d.first_time)}, "last_time": {_time(d.last_time)}, '
        f'"first_frame": {"null" if ff is None else ff}, '
        f'"last_frame": {"null" if lf is None else lf}, '
        f'"ivs_checked": {d.iv_count}, "iv_reuses": {len(d.iv_reuse_frames)}, '
        f'"max_overhead": {_n(d.max_overhead)}, "max_inner": {_n(d.max_inner)}, '
        f'"fragmented": {d.fragmented}, "key_source": {_s(d.key_source or None)}}}'
    )


def child_text(c: ChildSa, child_ids: dict[str, str]) -> str:
    """``timeline._child(c, child_ids, None)`` as JSON text."""
    directions = (
        c.directions
        if len(c.directions) < 2
        else sorted(c.directions, key=lambda d: (d.first_frame or 0, d.dst, d.spi))
    )
    return (
        f'{{"id": {_esc(child_ids[c.uid])}, {_child_head(c)}, '
        f'"directions": [{", ".join([_direction(d) for d in directions])}], '
        f'"stages": {_stages(c.stages)}, "termination": {_termination(c.termination)}, '
        f'"rekeyed_from": {_s(child_ids.get(c.rekeyed_from or ""))}, '
        f'"rekeyed_to": {_s(child_ids.get(c.rekeyed_to or ""))}, '
        f'"keys_source": {_s(c.keys_source)}}}'
    )


def _child_head(c: ChildSa) -> str:
    """From ``ike_sa`` to ``certainty``: for a child SA with no suite, proposals, traffic
    selectors or lifetimes (an orphan's), the same text for all with the same few words."""
    plain = type(c.observed_from_start) is bool and (c.pfs is None or type(c.pfs) is bool)
    bare = not (c.chosen or c.chosen_ids or c.proposals_offered or c.traffic_selectors)
    timeless = c.lifetime_seconds is None and c.lifetime_kilobytes is None
    if plain and bare and timeless and not c.certainty:
        return _bare_child_head(
            c.ike_sa,
            c.protocol,
            child_state(c),
            c.mode,
            c.encapsulation,
            c.created_by,
            c.observed_from_start,
            c.pfs,
        )
    return _child_head_text(c, child_state(c))


@lru_cache(maxsize=256)
def _bare_child_head(*fields: Any) -> str:
    c = ChildSa("", fields[0], fields[1], fields[3], fields[4], created_by=fields[5])
    c.observed_from_start, c.pfs = fields[6], fields[7]
    return _child_head_text(c, fields[2])


def _child_head_text(c: ChildSa, state: str) -> str:
    return (
        f'"ike_sa": {_s(c.ike_sa)}, '
        f'"protocol": {_esc(c.protocol)}, "state": {_esc(state)}, '
        f'"mode": {_s(c.mode)}, "encapsulation": {_any(c.encapsulation)}, '
        f'"created_by": {_s(c.created_by)}, "observed_from_start": {_any(c.observed_from_start)}, '
        f'"chosen": {_chosen(c.chosen, _CHILD_CHOSEN)}, "chosen_ids": {_any(c.chosen_ids)}, '
        f'"proposals_offered": {_any(c.proposals_offered)}, '
        f'"traffic_selectors": {_any(c.traffic_selectors)}, "pfs": {_any(c.pfs)}, '
        f'"lifetime_seconds": {_any(c.lifetime_seconds)}, '
        f'"lifetime_kilobytes": {_any(c.lifetime_kilobytes)}, '
        f'"certainty": {_certainty(c.certainty)}'
    )


def _endpoint(e: Any) -> str:
    return "null" if e is None else f'{{"addr": {_esc(e.addr)}, "port": {_n(e.port)}}}'


def ike_text(sa: IkeSa, child_ids: dict[str, str]) -> str:
    """``timeline._ike(sa, child_ids, None)`` as JSON text."""
    children = (
        _any(sorted((child_ids[u] for u in sa.child_sas if u in child_ids), key=_id_order))
        if sa.child_sas
        else "[]"
    )
    before, after = _ike_middle(sa)
    return (
        f'{{"id": {_esc(sa.uid)}, "version": {_n(sa.version)}, '
        f'"initiator": {_endpoint(sa.initiator)}, "responder": {_endpoint(sa.responder)}, '
        f'"spi_i": "{sa.spi_i.hex()}", "spi_r": "{sa.spi_r.hex()}", {before}, '
        f'"proposals_offered": {_proposals(sa.proposals_offered)}, {after}, '
        f'"stages": {_stages(sa.stages)}, "termination": {_termination(sa.termination)}, '
        f'"rekeyed_from": {_s(sa.rekeyed_from)}, "rekeyed_to": {_s(sa.rekeyed_to)}, '
        f'"rekey_certainty": {_value(sa.rekey_certainty)}, "child_sas": {children}}}'
    )


class _ByRepr:
    """A value compared by its ``repr``, which tells apart every value JSON writes
    differently (``1`` and ``True``, ``1`` and ``1.0``), so it can key a memo."""

    __slots__ = ("key", "value")

    def __init__(self, value: Any) -> None:
        self.value, self.key = value, repr(value)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByRepr) and self.key == other.key


def _proposals(proposals: list[dict[str, Any]]) -> str:
    """The offered proposals, memoised: a flood's requests offer the same few."""
    return _proposals_of(_ByRepr(proposals)) if proposals else "[]"


@lru_cache(maxsize=64)
def _proposals_of(held: _ByRepr) -> str:
    return _encode(held.value)


def _ike_middle(sa: IkeSa) -> tuple[str, str]:
    """From ``mode`` to ``observed_from_start``, and from ``chosen`` to ``certainty``: for
    an IKE SA that got no answer (no suite, identities, addresses, lifetimes), the same
    text for every one with the same few words."""
    plain = type(sa.observed_from_start) is bool and type(sa.messages) is int
    bare = not (
        sa.chosen
        or sa.chosen_ids
        or sa.identities
        or sa.virtual_ips
        or sa.configuration
        or sa.address_updates
        or sa.vendor_ids
    )
    unsaid = sa.auth_method is None and sa.auth_name is None and sa.established_frame is None
    timeless = sa.lifetime_seconds is None and sa.lifetime_kilobytes is None
    nat = sa.nat_detected is None or type(sa.nat_detected) is bool
    if plain and bare and unsaid and timeless and nat:
        return _bare_ike_middle(
            sa.mode,
            ike_state(sa),
            sa.transport,
            sa.observed_from_start,
            sa.nat_detected,
            sa.messages,
            tuple(sa.certainty.items()),
        )
    return _ike_middle_text(sa, ike_state(sa))


@lru_cache(maxsize=256)
def _bare_ike_middle(
    mode: str | None,
    state: str,
    transport: str,
    observed_from_start: bool,
    nat_detected: bool | None,
    messages: int,
    certainty: tuple[tuple[str, Any], ...],
) -> tuple[str, str]:
    sa = IkeSa("", 0, b"", mode=mode, transport=transport, nat_detected=nat_detected)
    sa.observed_from_start, sa.messages, sa.certainty = (
        observed_from_start,
        messages,
        dict(certainty),
    )
    return _ike_middle_text(sa, state)


def _ike_middle_text(sa: IkeSa, state: str) -> tuple[str, str]:
    established = (
        "null"
        if sa.established_frame is None
        else f'{{"time": {_time(sa.established_time)}, "frame": {_n(sa.established_frame)}}}'
    )
    auth = sa.auth_name or (str(sa.auth_method) if sa.auth_method is not None else None)
    chosen_ids = _any(_chosen_ids(sa)) if sa.chosen_ids or sa.auth_method is not None else "{}"
    before = (
        f'"mode": {_s(sa.mode)}, "state": {_esc(state)}, "established": {established}, '
        f'"transport": {_any(sa.transport)}, '
        f'"observed_from_start": {_any(sa.observed_from_start)}'
    )
    after = (
        f'"chosen": {_chosen(sa.chosen, _IKE_CHOSEN)}, "chosen_ids": {chosen_ids}, '
        f'"auth_method": {_s(auth)}, '
        f'"identities": {_any(sa.identities) if sa.identities else "{}"}, '
        f'"virtual_ips": {_any(list(sa.virtual_ips)) if sa.virtual_ips else "[]"}, '
        f'"configuration": {_configuration(sa) if sa.configuration else "{}"}, '
        f'"address_updates": {_updates(sa) if sa.address_updates else "[]"}, '
        f'"nat_detected": {_any(sa.nat_detected)}, '
        f'"vendor_ids": {_any(sa.vendor_ids) if sa.vendor_ids else "[]"}, '
        f'"lifetime_seconds": {_any(sa.lifetime_seconds)}, '
        f'"lifetime_kilobytes": {_any(sa.lifetime_kilobytes)}, "messages": {_n(sa.messages)}, '
        f'"certainty": {_certainty(sa.certainty)}'
    )
    return before, after


def _configuration(sa: IkeSa) -> str:
    return _encode({k: list(v) for k, v in sa.configuration.items()})


def _updates(sa: IkeSa) -> str:
    return _encode([_address_update(u) for u in sa.address_updates])


def finding_text(f: Finding, child_ids: dict[str, str]) -> str:
    """``timeline._finding(f, child_ids)`` as JSON text (a failure with plain frames;
    anything else through the dict). A rule's failures differ in their SA and frames."""
    plain = type(f.values) is dict and not f.values and type(f.frames) is list
    if f.outcome.value != "fail" or not plain or any(type(n) is not int for n in f.frames):
        return _encode(_finding(f, child_ids))
    return (
        f"{_failure_head(f.rule, f.title, f.severity, f.reference)}, "
        f'"sa": {_any(child_ids.get(f.sa, f.sa))}, '
        f"{_failure_middle(f.stage, f.detail)}, "
        f'"frames": [{", ".join(map(int.__repr__, f.frames))}], '
        f'"certainty": {_esc(f.certainty.value)}, "values": {{}}}}'
    )


@lru_cache(maxsize=256)
def _failure_head(rule: str | None, title: str | None, severity: Any, reference: Any) -> str:
    return (
        f'{{"rule": {_s(rule)}, "title": {_s(title)}, "outcome": "fail", '
        f'"severity": {_esc(severity.value)}, "reference": {_s(reference)}'
    )


@lru_cache(maxsize=256)
def _failure_middle(stage: Any, detail: str | None) -> str:
    return f'"stage": {_esc(stage.value)}, "detail": {_s(detail)}'

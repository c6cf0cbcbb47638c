"""The JSON timeline: one document per capture, for scripts.

Why a fixed shape: scripts rely on it (``schema/timeline.schema.json``, shipped in the
package and printed by ``ipsec-inspect export --schema``). Field names are those of issue
5; everything else is added beside them, never instead of them. Times are RFC 3339 UTC
strings with microseconds. Keys appear only when asked (``include_keys``).

Child SA ids are numbered here, in the order their first frame appears, so that the same
capture always gives the same ids — in one pass, or split into tunnel partitions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any, TextIO

from ipsec_inspect.export.timeline_fields import (
    _address_update,
    _chosen_ids,
    _finding,
    _id_order,
    rfc3339,
)
from ipsec_inspect.export.timeline_text import child_text, finding_text, ike_text
from ipsec_inspect.lifecycle.model import (
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
    from ipsec_inspect.audit.findings import RuleSummary
    from ipsec_inspect.crypto.keys import KeyStore
    from ipsec_inspect.lifecycle.tracker import TrackerResult
    from ipsec_inspect.sources.capture_file import CaptureInfo

SCHEMA_VERSION = "1.0"


def load_schema() -> dict[str, Any]:
    text = (
        resources.files("ipsec_inspect.export")
        .joinpath("schema/timeline.schema.json")
        .read_text("utf-8")
    )
    return dict(json.loads(text))


def _span(span: StageSpan) -> dict[str, Any]:
    return {
        "start": rfc3339(span.start),
        "end": rfc3339(span.end),
        "start_frame": span.start_frame,
        "end_frame": span.end_frame,
        "events": [
            {
                "time": rfc3339(e.time),
                "frame": e.frame,
                "kind": e.kind,
                "text": e.text,
                "certainty": e.certainty.value,
            }
            for e in span.events
        ],
    }


#: the stages and their JSON names, in order (iterating the enum per SA cost more)
_STAGE_NAMES = tuple((s, s.value) for s in Stage)


def _stages(stages: dict[Stage, StageSpan]) -> dict[str, Any]:
    return {name: _span(stages[s]) for s, name in _STAGE_NAMES}


def _termination(t: Termination | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "reason": t.reason.value,
        "time": rfc3339(t.time),
        "frame": t.frame,
        "notify": t.notify,
        "stage": t.stage.value if t.stage else None,
        "detail": t.detail,
        "certainty": t.certainty.value,
        "trigger": t.trigger.value if t.trigger else None,
        "trigger_certainty": t.trigger_certainty.value if t.trigger_certainty else None,
        "trigger_detail": t.trigger_detail,
    }


def _identities(sa: IkeSa, include_secrets: bool) -> dict[str, str]:
    """The identities; the XAUTH password only when keys are asked for (``--include-keys``)."""
    out = dict(sa.identities)
    if include_secrets:
        out.update(sa.secrets)
    return out


def _first_frame(sa: IkeSa | ChildSa) -> tuple[int, str]:
    frames = [s.start_frame for s in sa.stages.values() if s.start_frame is not None]
    return (min(frames) if frames else 0, sa.uid)


def _direction(d: Direction, keys: KeyStore | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "spi": f"{d.spi:08x}",
        "protocol": d.protocol,
        "src": d.src,
        "dst": d.dst,
        "packets": d.packets,
        "bytes": d.byte_count,
        "inner_bytes": d.inner_bytes if d.decrypted else None,
        "decrypted": d.decrypted_verified,
        "decrypted_unverified": d.decrypted_unverified,
        "icv_failures": d.icv_failures,
        "seq": {
            "first": d.seq.first,
            "last": d.seq.last,
            "highest": d.seq.highest,
            "lost": d.seq.lost,
            "replayed": d.seq.replayed,
            "out_of_order": d.seq.out_of_order,
            "resets": d.seq.resets,
            "wraps": d.seq.wraps,
            "window_violations": d.seq.window_violations,
            "window": d.seq.window,
        },
        "first_time": rfc3339(d.first_time),
        "last_time": rfc3339(d.last_time),
        "first_frame": d.first_frame,
        "last_frame": d.last_frame,
        "ivs_checked": d.iv_count,
        "iv_reuses": len(d.iv_reuse_frames),
        "max_overhead": d.max_overhead,
        "max_inner": d.max_inner,
        "fragmented": d.fragmented,
        "key_source": d.key_source or None,
    }
    if keys is not None:
        k = keys.find_sa(d.protocol, d.spi, d.src, d.dst)
        if k is not None:
            out["keys"] = {
                "encryption": k.encryption.display_name(k.encryption_bits)
                if k.encryption
                else None,
                "encryption_key": k.encryption_key.hex(),
                "integrity": k.integrity.name if k.integrity else None,
                "integrity_key": k.integrity_key.hex(),
            }
    return out


def _ike(sa: IkeSa, child_ids: dict[str, str], keys: KeyStore | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": sa.uid,
        "version": sa.version,
        "initiator": {"addr": sa.initiator.addr, "port": sa.initiator.port}
        if sa.initiator
        else None,
        "responder": {"addr": sa.responder.addr, "port": sa.responder.port}
        if sa.responder
        else None,
        "spi_i": sa.spi_i.hex(),
        "spi_r": sa.spi_r.hex(),
        "mode": sa.mode,
        "state": ike_state(sa),
        "established": {"time": rfc3339(sa.established_time), "frame": sa.established_frame}
        if sa.established_frame is not None
        else None,
        "transport": sa.transport,
        "observed_from_start": sa.observed_from_start,
        "proposals_offered": sa.proposals_offered,
        "chosen": {k: sa.chosen.get(k) for k in ("encryption", "prf", "integrity", "dh_group")},
        "chosen_ids": _chosen_ids(sa),
        "auth_method": sa.auth_name
        or (str(sa.auth_method) if sa.auth_method is not None else None),
        "identities": _identities(sa, keys is not None),
        "virtual_ips": list(sa.virtual_ips),
        "configuration": {k: list(v) for k, v in sa.configuration.items()},
        "address_updates": [_address_update(u) for u in sa.address_updates],
        "nat_detected": sa.nat_detected,
        "vendor_ids": sa.vendor_ids,
        "lifetime_seconds": sa.lifetime_seconds,
        "lifetime_kilobytes": sa.lifetime_kilobytes,
        "messages": sa.messages,
        "certainty": {k: v.value for k, v in sorted(sa.certainty.items())},
        "stages": _stages(sa.stages),
        "termination": _termination(sa.termination),
        "rekeyed_from": sa.rekeyed_from,
        "rekeyed_to": sa.rekeyed_to,
        "rekey_certainty": sa.rekey_certainty.value if sa.rekey_certainty else None,
        "child_sas": sorted((child_ids[u] for u in sa.child_sas if u in child_ids), key=_id_order),
    }
    if keys is not None:
        k = keys.find_ike(sa.spi_i, sa.spi_r)
        if k is not None:
            out["keys"] = {name: value.hex() for name, value in sorted(k.secrets.items())}
    return out


def _child(c: ChildSa, child_ids: dict[str, str], keys: KeyStore | None) -> dict[str, Any]:
    return {
        "id": child_ids[c.uid],
        "ike_sa": c.ike_sa,
        "protocol": c.protocol,
        "state": child_state(c),
        "mode": c.mode,
        "encapsulation": c.encapsulation,
        "created_by": c.created_by,
        "observed_from_start": c.observed_from_start,
        "chosen": {k: c.chosen.get(k) for k in ("encryption", "integrity", "esn", "dh_group")},
        "chosen_ids": c.chosen_ids,
        "proposals_offered": c.proposals_offered,
        "traffic_selectors": c.traffic_selectors,
        "pfs": c.pfs,
        "lifetime_seconds": c.lifetime_seconds,
        "lifetime_kilobytes": c.lifetime_kilobytes,
        "certainty": {k: v.value for k, v in sorted(c.certainty.items())},
        "directions": [
            _direction(d, keys)
            for d in sorted(c.directions, key=lambda d: (d.first_frame or 0, d.dst, d.spi))
        ],
        "stages": _stages(c.stages),
        "termination": _termination(c.termination),
        "rekeyed_from": child_ids.get(c.rekeyed_from or ""),
        "rekeyed_to": child_ids.get(c.rekeyed_to or ""),
        "keys_source": c.keys_source,
    }


def _rule_summary(s: RuleSummary, child_ids: dict[str, str]) -> dict[str, Any]:
    return {
        "rule": s.rule,
        "title": s.title,
        "severity_if_failed": s.severity.value,
        "reference": s.reference,
        "stage": s.stage.value,
        "failed": s.failed,
        "passed": s.passed,
        "not_observable": s.not_observable,
        "passed_sas": [child_ids.get(u, u) for u in s.passed_sas],
        "not_observable_sas": [child_ids.get(u, u) for u in s.not_observable_sas],
    }


def capture_json(info: CaptureInfo, path: str) -> dict[str, object]:
    """The ``capture`` facts the timeline needs: path, frames, times and ``files``."""
    from ipsec_inspect.sources.multi import files_json

    return {
        "path": path,
        "frames": info.frames,
        "first_time": info.first_time,
        "last_time": info.last_time,
        "files": files_json(info),
    }


def _files(capture_info: dict[str, Any]) -> dict[str, Any]:
    """``capture.files``: the inputs merged into this capture (when the caller knows them)."""
    files = capture_info.get("files")
    if files is None:
        return {}
    return {
        "files": [
            {
                "path": str(f["path"]),
                "format": str(f["format"]),
                "frames": int(f["frames"]),
                "frames_in_window": int(f["frames_in_window"]),
                "first_time": rfc3339(f["first_time"]),
                "last_time": rfc3339(f["last_time"]),
            }
            for f in files
        ]
    }


def child_id_map(result: TrackerResult) -> dict[str, str]:
    """Internal child uid -> public id (``child-N`` in order of first frame)."""
    return child_ids_of(children_in_order(result))


def children_in_order(result: TrackerResult) -> list[ChildSa]:
    """The child SAs in the order of their public ids (``child-1`` first)."""
    return sorted(result.child_sas.values(), key=_first_frame)


def child_ids_of(ordered: list[ChildSa]) -> dict[str, str]:
    """Internal child uid -> public id, for the child SAs of :func:`children_in_order`."""
    return {c.uid: f"child-{n}" for n, c in enumerate(ordered, 1)}


def build_timeline(
    result: TrackerResult,
    capture_info: dict[str, Any],
    include_keys: bool = False,
    keystore: KeyStore | None = None,
) -> dict[str, Any]:
    """The whole document. ``capture_info`` gives at least ``path``; ``frames`` is optional.

    For a large result prefer :func:`write_timeline`, which writes the same document
    without holding it in memory.
    """
    return {
        k: (list(v) if isinstance(v, Iterator) else v)
        for k, v in _document(result, capture_info, include_keys, keystore)
    }


def write_timeline(
    out: TextIO,
    result: TrackerResult,
    capture_info: dict[str, Any],
    include_keys: bool = False,
    keystore: KeyStore | None = None,
    pretty: bool = False,
    direct: bool = True,
) -> None:
    """Stream the document of :func:`build_timeline` to ``out``, one SA object at a time.

    Why: the document of a capture with a million SAs is gigabytes as Python objects, and
    ``json.dump`` with ``indent`` runs the pure-Python encoder. Here each SA, finding and
    error is encoded on its own by the C encoder and written, so memory does not grow with
    the number of SAs written. ``pretty`` indents for people (slower; same data).
    ``direct``: in the compact form without keys, write the SA objects and failed findings
    as text straight from the model (``export.timeline_text``: the same bytes, a third of
    the time); False encodes their dicts.
    """
    encode = json.JSONEncoder(indent=2 if pretty else None).encode
    nl, pad = ("\n", "  ") if pretty else ("", "")
    out.write("{" + nl)
    first_key = True
    texts = direct and not pretty and (keystore is None or not include_keys)
    for key, value in _document(result, capture_info, include_keys, keystore, texts):
        out.write(
            ("" if first_key else ("," + nl if pretty else ", ")) + pad + json.dumps(key) + ": "
        )
        first_key = False
        if not isinstance(value, Iterator):
            out.write(_indented(encode(value), pad))
            continue
        out.write("[")
        if not pretty:
            _write_compact(out, value, encode, texts)
            out.write("]")
            continue
        first = True
        for item in value:
            text = _indented(encode(item), pad + "  ")
            out.write("\n" if first else ",\n")
            out.write(pad + "  " + text)
            first = False
        out.write((nl + pad if not first else "") + "]")
    out.write(nl + "}")


#: items of a long list written at once: ~100 writes for 20,000 SAs, not 40,000
_WRITE_BATCH = 200


def _write_compact(
    out: TextIO, items: Iterator[Any], encode: Callable[[Any], str], texts: bool
) -> None:
    """A list's items, comma-separated, a batch per write (memory stays one batch)."""
    batch: list[str] = []
    separator = ""
    for item in items:
        batch.append(item if texts and type(item) is str else encode(item))
        if len(batch) == _WRITE_BATCH:
            out.write(separator + ", ".join(batch))
            batch.clear()
            separator = ", "
    if batch:
        out.write(separator + ", ".join(batch))


def _indented(text: str, pad: str) -> str:
    return text.replace("\n", "\n" + pad) if pad else text


def _document(
    result: TrackerResult,
    capture_info: dict[str, Any],
    include_keys: bool,
    keystore: KeyStore | None,
    texts: bool = False,
) -> Iterator[tuple[str, Any]]:
    """The document's top-level members in order; the long lists as iterators — of JSON
    text for the SAs and findings with ``texts`` (no keys), else of dicts."""
    keys = keystore if include_keys else None
    children = children_in_order(result)  # in the order of their ids
    child_ids = child_ids_of(children)
    # Sort the IKE SAs by key only: some may be parked out of memory (lifecycle.parked),
    # and are read back one at a time as they are written.
    ike_uids = [k[1] for k in sorted(_first_frame(sa) for sa in result.ike_sas.values())]
    peek = getattr(result.ike_sas, "peek", result.ike_sas.__getitem__)
    stats = result.stats
    order = {uid: n for n, uid in enumerate(ike_uids)}
    order.update((c.uid, len(ike_uids) + n) for n, c in enumerate(children))
    findings = sorted(result.findings, key=lambda f: (f.rule, order.get(f.sa, 0)))
    yield "schema_version", SCHEMA_VERSION
    capture = {
        "path": str(capture_info.get("path", "")),
        "frames": int(capture_info.get("frames") or stats.frames),
        "first_time": rfc3339(capture_info.get("first_time", stats.first_time)),
        "last_time": rfc3339(capture_info.get("last_time", stats.last_time)),
        "ike_messages": stats.ike_messages,
        "esp_packets": stats.esp_packets,
        "ah_packets": stats.ah_packets,
        "nat_keepalives": stats.keepalives,
        "malformed": stats.malformed,
        "evicted": {
            "half_open_ike_sas": result.evicted.half_open_ike_sas,
            "orphan_child_sas": result.evicted.orphan_child_sas,
            "esp_packets": result.evicted.esp_packets,
            "max_sas": result.config.max_sas,
        },
        **_files(capture_info),
    }
    yield "capture", capture
    yield (
        "settings",
        {
            "idle_timeout": result.config.idle_timeout,
            "replay_window": result.config.replay_window,
            "keys_included": keys is not None,
        },
    )
    if texts and keys is None:
        yield "ike_sas", (ike_text(peek(uid), child_ids) for uid in ike_uids)
        yield "child_sas", (child_text(c, child_ids) for c in children)
        yield "findings", (finding_text(f, child_ids) for f in findings)
    else:
        yield "ike_sas", (_ike(peek(uid), child_ids, keys) for uid in ike_uids)
        yield "child_sas", (_child(c, child_ids, keys) for c in children)
        yield "findings", (_finding(f, child_ids) for f in findings)
    yield "findings_summary", [_rule_summary(s, child_ids) for s in result.rule_summaries]
    yield (
        "errors",
        (
            {
                "frame": e.frame,
                "time": rfc3339(e.time),
                "kind": e.kind,
                "message": e.message,
                "sa": child_ids.get(e.sa or "", e.sa),
            }
            for e in result.errors
        ),
    )

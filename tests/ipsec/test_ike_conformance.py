"""Differential conformance of the IKE dissectors against tshark 4.0 (through pyshark).

For every IKE message in every capture under ``../shared/captures`` and ``samples/`` we
compare what tshark and our dissector see: version, exchange type, SPIs/cookies, message
ID, flags, the ordered payload types of the unencrypted part, every transform (type, id,
key length), notify types and vendor IDs. The only disagreements allowed are listed in
``TSHARK_FAULTS`` with the evidence that tshark is wrong; an entry that no longer
disagrees fails the test, so the list cannot go stale.

tshark's view of each capture is extracted once per test run and cached as JSON in a
temporary directory, which keeps the run time to one tshark pass per capture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ipsec_inspect.core.records import EncryptedBody, IkeMessage, NotifyBody, SaBody, VendorIdBody
from ipsec_inspect.pipeline.records import read_records

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared" / "captures"
SAMPLES = ROOT / "samples"
_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcapng.gz", ".pcap.gz")

# (capture path relative to its root, frame) -> why tshark is wrong there.
TSHARK_FAULTS: dict[tuple[str, int], str] = {
    ("tcpdump/ISAKMP_sa_setup.pcap", 3): (
        "tshark 4.0 decodes IKEv1 payload type 15 as GDOI 'SA KEK' and marks the packet "
        "Malformed. This Main Mode peer announced draft-ietf-ipsec-nat-t-ike-07 in frame 1, "
        "and NAT-T drafts before -03 numbered NAT-D 15 (racoon's NATD_BADDRAFT); the two "
        "24-byte payloads are 20-byte SHA-1 NAT-D hashes, which is our reading."
    ),
    ("tcpdump/ISAKMP_sa_setup.pcap", 4): (
        "same as frame 3 in the responder's direction: payload 15 is the draft NAT-D, "
        "tshark 4.0 reads it as GDOI SA KEK (Malformed Packet)."
    ),
    ("zeek-spicy-ipsec/traces/ipsec-ikev1-payload-bad-length.pcap", 1): (
        "the Vendor ID after the SA has payload length 3, below the 4-byte generic header. "
        "tshark 4.0 flags it ('Payload (bogus, length is 3, must be at least 4)') yet keeps "
        "walking from inside it and invents a second Vendor ID of length 7297, which runs "
        "past the 156-byte message (Malformed Packet). We record the bogus payload with an "
        "error and stop: nothing after it can be located."
    ),
    ("zeek-spicy-ipsec/traces/ipsec-ikev1-zero-length.pcap", 1): (
        "the ISAKMP header's length field is 0. tshark 4.0 refuses such a datagram as ISAKMP "
        "and shows it as 'data' (no isakmp layer at all), although its header and payloads "
        "are intact. We dissect it from the UDP length and flag 'IKE length field 0 is "
        "shorter than the 28-byte header'."
    ),
    ("malformed.pcap", 4): (
        "samples/malformed.pcap frame 4 (made by samples/generator/malformed.py) has an IKE "
        "length field of 1000 in a 148-byte datagram. tshark 4.0 then dissects no payload "
        "at all, hiding the intact SA/KE/Nonce; we dissect the bytes that are there and flag "
        "'IKE length field 1000 runs past the 148 captured bytes'."
    ),
}

# Whole classes of messages tshark 4.0 cannot see (../shared/reference/wireshark.md 1.6):
# it registers ISAKMP on TCP 500 without RFC 8229 framing, so IKE over TCP (the IKETCP
# stream with 16-bit length framing) is never dissected. Such frames are exempt only when
# tshark has no isakmp layer there at all.
TSHARK_BLIND_TRANSPORTS = frozenset({"tcp"})


def _captures() -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    for base in (SHARED, SAMPLES):
        if base.is_dir():
            for p in sorted(base.rglob("*")):
                if p.is_file() and p.name.endswith(_SUFFIXES):
                    out.append((p, p.relative_to(base).as_posix()))
    return out


_CAPTURES = _captures()
_PARAMS = [pytest.param(path, rel, id=rel) for path, rel in _CAPTURES] or [
    pytest.param(
        None,
        "",
        id="no-captures",
        marks=pytest.mark.skip(reason="neither ../shared/captures nor samples/ holds captures"),
    )
]


# ---------------------------------------------------------------- our view


def _ours(msg: IkeMessage) -> dict[str, Any]:
    h = msg.header
    clear = [
        p for p in msg.payloads if not (msg.version == 1 and isinstance(p.body, EncryptedBody))
    ]
    transforms: list[list[Any]] = []
    notifies: list[int] = []
    vids: list[str] = []
    for p in clear:
        if isinstance(p.body, SaBody):
            for prop in p.body.proposals:
                for t in prop.transforms:
                    transforms.append(
                        [
                            t.type if msg.version == 2 else None,
                            t.id,
                            t.key_length,
                        ]
                    )
        elif isinstance(p.body, NotifyBody):
            notifies.append(p.body.notify_type)
        elif isinstance(p.body, VendorIdBody):
            vids.append(p.body.data.hex())
    return {
        "version": h.major,
        "exchange": h.exchange,
        "spi_i": h.spi_i.hex(),
        "spi_r": h.spi_r.hex(),
        "message_id": h.message_id,
        "flags": h.flags,
        "payloads": [p.type for p in clear],
        "transforms": transforms,
        "notifies": notifies,
        "vids": vids,
    }


class _OurView:
    """Our messages per frame, plus what tshark needs to be told to see the same ones."""

    def __init__(self, path: Path) -> None:
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.transports: dict[int, str] = {}
        self.odd_udp_ports: set[int] = set()  # IKE found by the header heuristic
        for rec in read_records(path):
            if isinstance(rec, IkeMessage):
                m = rec.meta
                self.messages.setdefault(m.frame, []).append(_ours(rec))
                self.transports[m.frame] = m.transport.value
                if m.transport.value == "udp" and 500 not in (m.sport, m.dport):
                    self.odd_udp_ports.add(min(m.sport, m.dport))


# ---------------------------------------------------------------- tshark's view


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _children(tree: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    types = [int(t) for t in _as_list(tree.get("isakmp.typepayload"))]
    trees = _as_list(tree.get("isakmp.typepayload_tree"))
    return list(zip(types, trees, strict=False))


def _tshark_transform(version: int, tree: dict[str, Any]) -> list[Any]:
    key_length = None
    for key, value in tree.items():
        if key.endswith(".attr"):
            for attr in _as_list(value):
                for akey, avalue in attr.items():
                    if akey.endswith("attr.key_length"):
                        key_length = int(avalue)
    if version == 2:
        ids = [int(v) for k, v in tree.items() if k.startswith("isakmp.tf.id")]
        ttype = tree.get("isakmp.tf.type")
        return [int(ttype) if ttype is not None else None, ids[0] if ids else None, key_length]
    tid = tree.get("isakmp.trans.id")
    return [None, int(tid) if tid is not None else None, key_length]


def _theirs(layer: dict[str, Any]) -> dict[str, Any]:
    version = int(layer["isakmp.version"], 16) >> 4
    top = _children(layer)
    transforms: list[list[Any]] = []
    notifies: list[int] = []
    vids: list[str] = []
    for ptype, tree in top:
        if ptype in (1, 33):
            for ctype, prop in _children(tree):
                if ctype == 2:
                    for ttype, tf in _children(prop):
                        if ttype == 3:
                            transform = _tshark_transform(version, tf)
                            if transform[1] is not None:  # tshark could not read it either
                                transforms.append(transform)
        elif ptype in (11, 41) and "isakmp.notify.msgtype" in tree:
            notifies.append(int(tree["isakmp.notify.msgtype"]))
        elif ptype in (13, 43) and "isakmp.vid_bytes" in tree:
            vids.append(tree["isakmp.vid_bytes"].replace(":", ""))
    return {
        "version": version,
        "exchange": int(layer["isakmp.exchangetype"]),
        "spi_i": layer["isakmp.ispi"].replace(":", ""),
        "spi_r": layer["isakmp.rspi"].replace(":", ""),
        "message_id": int(layer["isakmp.messageid"], 16),
        "flags": int(layer["isakmp.flags"], 16),
        "payloads": [t for t, _ in top],
        "transforms": transforms,
        "notifies": notifies,
        "vids": vids,
    }


def _tshark_view(path: Path, cache: Path, udp_ports: set[int]) -> dict[int, list[dict[str, Any]]]:
    cached = cache / (path.as_posix().replace("/", "_") + ".json")
    if cached.exists():
        raw = json.loads(cached.read_text())
        return {int(k): v for k, v in raw.items()}
    pyshark = pytest.importorskip("pyshark")
    view: dict[int, list[dict[str, Any]]] = {}
    # IKE we found on other UDP ports is shown to tshark with Decode As, so it is compared too.
    decode_as = {f"udp.port=={port}": "isakmp" for port in sorted(udp_ports)}
    cap = pyshark.FileCapture(
        str(path),
        use_json=True,
        display_filter="isakmp",
        keep_packets=False,
        decode_as=decode_as or None,
    )
    from pyshark.capture.capture import TSharkCrashException

    try:
        for pkt in cap:
            for layer in pkt.get_multiple_layers("isakmp"):
                fields = layer._all_fields
                if "isakmp.ispi" in fields:  # not a bare NAT-keepalive
                    view.setdefault(int(pkt.number), []).append(_theirs(fields))
    except TSharkCrashException:
        # tshark exits with status 2 on a capture whose last record is cut short (as
        # samples/malformed.pcap is on purpose) after printing every complete packet.
        pass
    finally:
        try:
            cap.close()
        except TSharkCrashException:
            # the crash was reported on close; forget the process so that pyshark's
            # __del__ does not report it a second time
            cap._running_processes.clear()
    cached.write_text(json.dumps(view))
    return view


@pytest.fixture(scope="session")
def tshark_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: it is the oracle of this differential test")
    pytest.importorskip("pyshark")
    return tmp_path_factory.mktemp("tshark-ike")


# ---------------------------------------------------------------- the test


@pytest.mark.tshark
@pytest.mark.parametrize(("path", "rel"), _PARAMS)
def test_ike_agrees_with_tshark(path: Path, rel: str, tshark_cache: Path) -> None:
    view = _OurView(path)
    ours = view.messages
    theirs = _tshark_view(path, tshark_cache, view.odd_udp_ports)
    disagreements = []
    for frame in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(frame), theirs.get(frame)
        if other is None and view.transports.get(frame) in TSHARK_BLIND_TRANSPORTS:
            continue
        known = (rel, frame) in TSHARK_FAULTS
        if mine != other and not known:
            disagreements.append(f"frame {frame}:\n  ours   {mine}\n  tshark {other}")
        if mine == other and known:
            disagreements.append(f"frame {frame}: listed in TSHARK_FAULTS but the two now agree")
    assert not disagreements, f"{rel}: " + "\n".join(disagreements)


def test_known_faults_name_real_captures() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/captures is absent")
    for rel, _frame in TSHARK_FAULTS:
        assert (SHARED / rel).is_file() or (SAMPLES / rel).is_file(), rel


def test_captures_hold_ike_messages() -> None:
    """Guard against a silently empty comparison: the shared set has >1000 IKE messages."""
    if not SHARED.is_dir():
        pytest.skip("../shared/captures is absent")
    total = sum(
        sum(len(v) for v in _OurView(path).messages.values())
        for path, _rel in _CAPTURES
        if SHARED in path.parents
    )
    assert total > 1000

"""Robustness: every sample and shared capture, mutated the way Wireshark's fuzz testing
mutates captures, goes through the whole pipeline without an exception escaping, and every
record whose bytes no longer make sense carries an error.

Wireshark's ``tools/fuzz-test.sh`` runs ``editcap -E 0.02``: each byte of each packet is
corrupted with probability 0.02. We do the same (a random new value, or one flipped bit),
also cut records short (captured length below the original length, as a small snaplen does)
and cut some files in the middle of their last record. Every mutation is drawn from a
``random.Random`` seeded with the round and file number, so a failure names a reproducible
seed and the mutated file stays in pytest's temporary directory.

The default run mutates at least 100,000 packets; ``--fuzz-long`` (or the environment
variable ``IPSEC_INSPECT_FUZZ_LONG=1``) runs ten times as many rounds.
"""

from __future__ import annotations

import math
import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ipsec_inspect.core.records import AhPacket, EspPacket, IkeMessage, Malformed, Record
from ipsec_inspect.crypto.decryptor import Decryptor
from ipsec_inspect.crypto.keyfiles.detect import load_key_path
from ipsec_inspect.crypto.keys import KeyStore
from ipsec_inspect.lifecycle.tracker import Tracker
from ipsec_inspect.pipeline.records import read_records
from ipsec_inspect.sources.capture_file import CaptureReader
from tests.sample_corpus import SAMPLES, label, sample_captures, shared_captures

SEED = 20260115
FLIP_RATE = 0.02  # editcap -E 0.02, as Wireshark's fuzz-test.sh
TRUNCATE_RATE = 0.1  # share of records cut short
CUT_FILE_RATE = 0.2  # share of mutated files whose last record is cut mid-way
MIN_PACKETS = 100_000
LONG_FACTOR = 10
# The lifecycle tracker costs more per record than decoding; by default it sees every
# fourth round of mutations (over 25,000 packets), in the long run every round.
TRACKER_EVERY = 4


@dataclass
class Frame:
    link_type: int
    time: float
    data: bytes


@dataclass
class Source:
    """The frames of one capture, grouped by link type (a pcap holds one link type)."""

    name: str
    groups: dict[int, list[Frame]] = field(default_factory=dict)

    @property
    def packets(self) -> int:
        return sum(len(g) for g in self.groups.values())


def _load_corpus() -> list[Source]:
    sources = []
    for path in sample_captures() + shared_captures():
        src = Source(label(path))
        with CaptureReader(path) as reader:
            for _number, time, link_type, data, _orig, _iface in reader:
                src.groups.setdefault(link_type, []).append(Frame(link_type, time, bytes(data)))
        if src.packets:
            sources.append(src)
    return sources


def _mutate(data: bytes, rng: random.Random) -> tuple[bytes, int]:
    """(captured bytes, original length): bytes corrupted with probability FLIP_RATE each,
    and sometimes the record cut short. Geometric skips keep it one draw per corruption."""
    buf = bytearray(data)
    log_keep = math.log(1.0 - FLIP_RATE)
    pos = int(math.log(1.0 - rng.random()) / log_keep)
    while pos < len(buf):
        if rng.random() < 0.5:
            buf[pos] = rng.randrange(256)
        else:
            buf[pos] ^= 1 << rng.randrange(8)
        pos += 1 + int(math.log(1.0 - rng.random()) / log_keep)
    orig = len(buf)
    if buf and rng.random() < TRUNCATE_RATE:
        del buf[rng.randrange(len(buf)) :]
    return bytes(buf), orig


def _write_pcap(path: Path, link_type: int, frames: list[Frame], rng: random.Random) -> int:
    """A mutated little-endian microsecond pcap; returns the number of records written."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link_type)]
    for f in frames:
        data, orig = _mutate(f.data, rng)
        usec = round(f.time * 1_000_000)
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(data), orig))
        out.append(data)
    blob = b"".join(out)
    if frames and rng.random() < CUT_FILE_RATE:
        last = 16 + len(data)
        blob = blob[: len(blob) - rng.randrange(1, last)]
    path.write_bytes(blob)
    return len(frames)


# --------------------------------------------------------------------------- the checks


def _ike_structure_problem(msg: IkeMessage) -> str | None:
    """Why the message's declared lengths cannot be right, found independently of the
    dissector (None when they fit)."""
    h = msg.header
    if h.length < 28:
        return f"header length {h.length} below 28"
    if h.length > msg.length:
        return f"header length {h.length} beyond the {msg.length} bytes present"
    if msg.version == 1 and h.flags & 0x01:
        return None  # the payload chain is encrypted
    data, end = msg.data, msg.offset + h.length
    pos, next_payload = msg.offset + 28, h.next_payload
    while next_payload != 0:
        if pos + 4 > end:
            return f"payload {next_payload} header runs past the end"
        plen = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if plen < 4 or pos + plen > end:
            return f"payload {next_payload} length {plen} does not fit"
        if msg.version == 2 and next_payload in (46, 53):
            return None  # SK / SKF: the rest is ciphertext
        next_payload = data[pos]
        pos += plen
    return None


def _esp_problem(esp: EspPacket) -> str | None:
    if esp.length < 8 or esp.offset + 8 > len(esp.data):
        return f"ESP of {esp.length} bytes, shorter than its 8-byte header"
    return None


def _ah_problem(ah: AhPacket) -> str | None:
    if ah.length < 12 or ah.offset + ah.length > len(ah.data):
        return f"AH length {ah.length} does not fit"
    return None


def _has_error(record: Record) -> bool:
    if isinstance(record, IkeMessage):
        return bool(record.errors) or any(p.error for p in record.payloads)
    if isinstance(record, EspPacket | AhPacket):
        return bool(record.errors)
    return False


def _check(record: Record) -> str | None:
    """A record that must carry an error and does not, described; else None."""
    if isinstance(record, Malformed):
        return None if record.error.message else "Malformed record without a message"
    problem = None
    if isinstance(record, IkeMessage):
        problem = _ike_structure_problem(record)
    elif isinstance(record, EspPacket):
        problem = _esp_problem(record)
    elif isinstance(record, AhPacket):
        problem = _ah_problem(record)
    if problem and not _has_error(record):
        return f"frame {record.meta.frame}: {problem}, but the record has no error"
    return None


# --------------------------------------------------------------------------- the run


def _keystore() -> KeyStore:
    """Every sample key file, so mutated IKE and ESP also reach the decryption code."""
    store = KeyStore()
    for path in sorted(SAMPLES.glob("*.keys.toml")):
        store.merge(load_key_path(path))
    return store


@dataclass
class Tally:
    packets: int = 0
    files: int = 0
    records: int = 0
    with_error: int = 0
    failures: list[str] = field(default_factory=list)


def _run_file(path: Path, store: KeyStore, with_tracker: bool, tally: Tally) -> None:
    """Read, decrypt and (optionally) track one mutated file with fresh stages."""
    decryptor = Decryptor(store)
    tracker = Tracker() if with_tracker else None
    for record in read_records(path, on_warning=lambda w: None):
        tally.records += 1
        record = decryptor.process(record)
        if tracker is not None:
            tracker.feed(record)
        if isinstance(record, Malformed) or _has_error(record):
            tally.with_error += 1
        problem = _check(record)
        if problem and len(tally.failures) < 20:
            tally.failures.append(f"{path.name}: {problem}")
    if tracker is not None:
        tracker.finish()
        tracker.result()


@pytest.fixture(scope="module")
def corpus() -> list[Source]:
    sources = _load_corpus()
    if not sources:
        pytest.skip("no captures found in samples/ or ../shared/captures")
    return sources


def _long(config: pytest.Config) -> bool:
    return bool(config.getoption("--fuzz-long")) or os.environ.get("IPSEC_INSPECT_FUZZ_LONG") == "1"


def test_mutated_captures_never_raise_and_broken_records_carry_errors(
    corpus: list[Source], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    per_round = sum(s.packets for s in corpus)
    long_run = _long(request.config)
    rounds = math.ceil(MIN_PACKETS / per_round) * (LONG_FACTOR if long_run else 1)
    tracker_every = 1 if long_run else TRACKER_EVERY
    store = _keystore()
    tally = Tally()
    for rnd in range(rounds):
        for index, source in enumerate(corpus):
            for link_type, frames in source.groups.items():
                seed = SEED * 1_000_003 + rnd * 10_007 + index * 101 + link_type
                rng = random.Random(seed)
                path = (
                    tmp_path / f"r{rnd}-s{seed}-{source.name.replace('/', '_')}-lt{link_type}.pcap"
                )
                tally.packets += _write_pcap(path, link_type, frames, rng)
                tally.files += 1
                try:
                    _run_file(path, store, rnd % tracker_every == 0, tally)
                except Exception as exc:  # the point of the test: report, with the seed
                    pytest.fail(f"{type(exc).__name__} escaped on {path} (seed {seed}): {exc}")
                path.unlink()
    assert tally.packets >= MIN_PACKETS
    assert tally.failures == []
    # The mutations really produce broken records, and most records still decode.
    assert tally.with_error > 1000
    assert tally.records > tally.packets // 4


def test_sequence_number_jump_does_not_allocate_the_gap() -> None:
    """Found by this fuzzer: a mutated ESP sequence number far ahead of the last one made
    the sequence analyser shift its replay bitmap by the whole gap (up to 2^32 bits, a
    512 MB integer) before masking it. Memory must stay bounded whatever the jump."""
    import tracemalloc

    from ipsec_inspect.lifecycle.sequence import SequenceAnalyzer

    analyzer = SequenceAnalyzer(keep_log=False)
    tracemalloc.start()
    try:
        analyzer.feed(1, 1, 0.0)
        analyzer.feed(0xFFFFFFF0, 2, 0.1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert analyzer.lost == 0xFFFFFFF0 - 2
    assert peak < 1_000_000


def test_mutation_is_deterministic_and_corrupts_about_two_percent() -> None:
    data = bytes(range(256)) * 40
    a = _mutate(data, random.Random(7))
    b = _mutate(data, random.Random(7))
    assert a == b
    rng = random.Random(11)
    changed = total = 0
    for _ in range(200):
        out, orig = _mutate(data, rng)
        assert orig == len(data)
        changed += sum(x != y for x, y in zip(out, data, strict=False))
        total += len(out)
    # Half the corruptions are new random values (1/256 of them equal the old byte).
    assert 0.015 < changed / total < 0.025


def test_structure_check_spots_a_lying_ike_payload_length() -> None:
    """The independent IKE length check itself works (on malformed.pcap frame 2)."""
    records = [r for r in read_records(SAMPLES / "malformed.pcap") if isinstance(r, IkeMessage)]
    by_frame = {r.meta.frame: r for r in records}
    assert _ike_structure_problem(by_frame[1]) is None
    assert _ike_structure_problem(by_frame[2]) == "payload 40 length 4660 does not fit"
    assert _ike_structure_problem(by_frame[3]) == "payload 40 length 0 does not fit"
    assert _ike_structure_problem(by_frame[4]) == "header length 1000 beyond the 152 bytes present"
    assert all(_has_error(by_frame[n]) for n in (2, 3, 4))

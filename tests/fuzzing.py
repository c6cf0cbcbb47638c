"""Whole-file fuzzing: mutate captures the way damage and attackers do, run every command a
user would on each, and report crashes, hangs and decrypted bytes that must not show.

Why a module beside the tests: the short fuzz test (``tests/test_robustness.py``, in CI)
and the long run (``benchmarks/fuzz_captures.py``, 10,000+ captures) share the mutators and
the checks, so a crash the long run finds is reproduced by the same code in a test.

Mutators (each drawn from a seeded ``random.Random``, so a finding names its seed):

- ``editcap``: ``editcap -E 0.02`` itself where Wireshark's editcap is installed (what
  Wireshark's ``fuzz-test.sh`` runs), else our own equivalent on packet bytes;
- ``bytes``: flips over the *whole* file — headers, block lengths, options, trailers;
- ``fields``: the structure on purpose: timestamps (pcap seconds and fraction, the pcapng
  64-bit value), ``if_tsresol`` and ``if_tsoffset`` (rewritten interface blocks),
  snapshot and captured lengths, block lengths;
- ``.gz``: a compressed capture is mutated either before compression (the fields) or in
  its compressed bytes (damaged deflate data, header, trailer).

Every mutated capture runs ``summary``, ``export``, ``decrypt`` and ``packets --format
jsonl`` in process (``cli.main``) under a per-capture time limit (SIGALRM).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import random
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ipsec_inspect.cli import main as cli_main
from ipsec_inspect.sources.capture_file import CaptureReader

FLIP_RATE = 0.02  # editcap -E 0.02, as Wireshark's fuzz-test.sh
WHOLE_FILE_FLIP_RATE = 0.002  # over headers too: fewer, or nothing but the header breaks
DEFAULT_TIME_LIMIT = 30.0  # CPU seconds per mutated capture, all four commands together
MUTATORS = ("editcap", "bytes", "fields")


REPEATED_FRAME = re.compile(r"\bframe (\d+)\b.*\bframe \1\b")


def repeated_parts(stderr: str, path: Path) -> list[str]:
    """Lines that name their frame twice ("frame 27: frame 27: record truncated") or the
    capture's path twice (issue 15: a message says each thing once)."""
    return [
        line
        for line in stderr.splitlines()
        if REPEATED_FRAME.search(line) or line.count(str(path)) > 1
    ]


class Hang(Exception):
    """A capture took longer than the time limit."""


@dataclass
class Finding:
    kind: str  # "crash", "hang", "icv-leak", "repeat" (a message naming its frame twice)
    capture: str
    mutator: str
    seed: int
    detail: str
    path: Path | None = None

    def line(self) -> str:
        return f"{self.kind}: {self.capture} ({self.mutator}, seed {self.seed}): {self.detail}"


@dataclass
class Tally:
    captures: int = 0
    commands: int = 0
    exit_codes: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    slowest: float = 0.0
    seconds: float = 0.0


# --------------------------------------------------------------------------- mutators


def flip(data: bytearray, rng: random.Random, rate: float, start: int = 0) -> None:
    """Corrupt each byte from ``start`` with probability ``rate`` (a new value or one bit)."""
    if rate <= 0 or len(data) <= start:
        return
    pos = start + int(rng.expovariate(rate))
    while pos < len(data):
        if rng.random() < 0.5:
            data[pos] = rng.randrange(256)
        else:
            data[pos] ^= 1 << rng.randrange(8)
        pos += 1 + int(rng.expovariate(rate))


def _u32_choice(rng: random.Random, current: int) -> int:
    return rng.choice(
        [0, 1, 0xFFFFFFFF, 0xFFFFFFF0, 0x80000000, current + 4, max(current - 4, 0),
         rng.getrandbits(32), current * 2 + 16, 0x10000001]
    ) & 0xFFFFFFFF  # fmt: skip


def _time_choice(rng: random.Random) -> int:
    """A 64-bit timestamp value: extremes, the issue's year-508989 value, anything."""
    return rng.choice(
        [0, 2**64 - 1, 2**63, 16_000_000_000_000_000_000, rng.getrandbits(64),
         rng.getrandbits(40), 1 << rng.randrange(64)]
    )  # fmt: skip


def _tsresol_choice(rng: random.Random) -> int:
    return rng.choice([0, 6, 9, 19, 30, 127, 0x80, 0x80 | 10, 0x80 | 64, 0xFF, rng.randrange(256)])


def _tsoffset_choice(rng: random.Random) -> int:
    return rng.choice(
        [-(2**63), 2**63 - 1, -1, -(10**12), 10**12, rng.getrandbits(63) - 2**62]
    )  # fmt: skip


def _blocks(blob: bytes) -> Iterator[tuple[int, int, int, str]]:
    """(offset, type, length, endian) of each pcapng block of a well-formed file."""
    pos, endian = 0, "<"
    while pos + 12 <= len(blob):
        if blob[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
            endian = "<" if blob[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(endian + "II", blob, pos)
        if blen < 12 or pos + blen > len(blob):
            return
        yield pos, btype, blen, endian
        pos += blen


def _idb(endian: str, link_type: int, snaplen: int, rng: random.Random) -> bytes:
    opts = b""
    if rng.random() < 0.8:
        opts += struct.pack(endian + "HH", 9, 1) + bytes([_tsresol_choice(rng)]) + b"\0\0\0"
    if rng.random() < 0.5:
        opts += struct.pack(endian + "HHq", 14, 8, _tsoffset_choice(rng))
    if rng.random() < 0.2:  # an option whose length runs past the block
        opts += struct.pack(endian + "HH", 2, rng.choice([0xFFFF, 200, 3]))
    opts += struct.pack(endian + "HH", 0, 0)
    body = struct.pack(endian + "HHI", link_type, 0, snaplen) + opts
    n = len(body) + 12
    return struct.pack(endian + "II", 1, n) + body + struct.pack(endian + "I", n)


def mutate_fields_pcapng(blob: bytes, rng: random.Random) -> bytes:
    out = bytearray()
    blocks = list(_blocks(blob))
    picks = max(1, len(blocks) // 10)
    chosen = set(rng.sample(range(len(blocks)), min(picks, len(blocks)))) if blocks else set()
    end = 0
    for i, (pos, btype, blen, e) in enumerate(blocks):
        chunk = bytearray(blob[pos : pos + blen])
        end = pos + blen
        if i in chosen:
            what = rng.randrange(4)
            if btype == 1 and what < 3:
                link_type, _r, snaplen = struct.unpack_from(e + "HHI", chunk, 8)
                if rng.random() < 0.3:
                    snaplen = _u32_choice(rng, snaplen)
                chunk = bytearray(_idb(e, link_type, snaplen, rng))
            elif btype in (6, 2) and what == 0:
                ts = _time_choice(rng)  # at offset 12 in both enhanced and obsolete blocks
                struct.pack_into(e + "II", chunk, 12, ts >> 32, ts & 0xFFFFFFFF)
            elif btype in (6, 2) and what == 1:
                struct.pack_into(e + "I", chunk, 20, _u32_choice(rng, blen))  # captured length
            elif what == 2:
                struct.pack_into(e + "I", chunk, 4, _u32_choice(rng, blen))  # block length
            else:
                struct.pack_into(e + "I", chunk, len(chunk) - 4, _u32_choice(rng, blen))
        out += chunk
    out += blob[end:]
    return bytes(out)


def mutate_fields_pcap(blob: bytes, rng: random.Random) -> bytes:
    data = bytearray(blob)
    e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    if rng.random() < 0.2:
        struct.pack_into(e + "I", data, 16, _u32_choice(rng, 65535))  # snaplen
    pos = 24
    records = []
    while pos + 16 <= len(data):
        incl = struct.unpack_from(e + "I", data, pos + 8)[0]
        records.append(pos)
        pos += 16 + incl
    for at in rng.sample(records, min(len(records), max(1, len(records) // 10))):
        what = rng.randrange(4)
        if what == 0:
            struct.pack_into(e + "I", data, at, rng.choice([0, 0xFFFFFFFF, rng.getrandbits(32)]))
        elif what == 1:
            struct.pack_into(
                e + "I",
                data,
                at + 4,
                rng.choice([999_999, 1_000_000, 0xFFFFFFFF, rng.getrandbits(32)]),
            )
        elif what == 2:
            incl = struct.unpack_from(e + "I", data, at + 8)[0]
            struct.pack_into(e + "I", data, at + 8, _u32_choice(rng, incl))
        else:
            struct.pack_into(e + "I", data, at + 12, rng.getrandbits(32))
    return bytes(data)


def mutate_fields(blob: bytes, rng: random.Random) -> bytes:
    if blob[:4] == b"\x0a\x0d\x0d\x0a":
        return mutate_fields_pcapng(blob, rng)
    return mutate_fields_pcap(blob, rng)


def flip_packets(blob: bytes, rng: random.Random) -> bytes:
    """Our editcap -E: packet bytes only, the file structure intact."""
    data = bytearray(blob)
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        for pos, btype, blen, _e in _blocks(blob):
            if btype == 6 and blen > 32:
                sub = data[pos + 28 : pos + blen - 4]
                flip(sub, rng, FLIP_RATE)
                data[pos + 28 : pos + blen - 4] = sub
        return bytes(data)
    flip(data, rng, FLIP_RATE, start=24)  # records' headers too, as a byte stream
    return bytes(data)


def editcap(src: Path, dst: Path, rng: random.Random) -> bool:
    """``editcap -E 0.02 src dst`` (Wireshark's own mutation); False if not installed."""
    exe = shutil.which("editcap")
    if exe is None:
        return False
    done = subprocess.run(
        [exe, "-E", str(FLIP_RATE), "-F", "pcapng" if rng.random() < 0.5 else "pcap", str(src), str(dst)],
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return done.returncode == 0 and dst.exists()


def mutate(src: Path, dst: Path, mutator: str, rng: random.Random) -> str:
    """Write a mutated ``src`` to ``dst``; returns what was done (for the report)."""
    raw = src.read_bytes()
    compressed = raw[:2] == b"\x1f\x8b"
    if compressed:
        try:
            plain = gzip.decompress(raw)
        except (OSError, EOFError):
            plain = b""
    else:
        plain = raw
    if mutator == "editcap":
        if editcap(src, dst, rng):  # editcap reads .gz itself and writes it uncompressed
            return "editcap -E 0.02"
        dst.write_bytes(flip_packets(plain, rng))
        return "packet bytes (editcap -E equivalent)"
    if compressed and (mutator == "bytes" or not plain):
        data = bytearray(raw)
        flip(data, rng, max(WHOLE_FILE_FLIP_RATE, 2.0 / len(data)))
        dst.write_bytes(bytes(data))
        return "compressed bytes"
    if mutator == "bytes":
        data = bytearray(plain)
        flip(data, rng, max(WHOLE_FILE_FLIP_RATE, 2.0 / max(len(data), 1)))
        out = bytes(data)
    else:
        out = mutate_fields(plain, rng)
    dst.write_bytes(gzip.compress(out) if compressed else out)
    return f"{mutator}{' (then gzip)' if compressed else ''}"


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` after ``seconds`` of CPU time (ITIMER_PROF: a loaded machine
    slows a capture down but does not make it a hang)."""

    def on_alarm(_sig: int, _frame: object) -> None:
        raise Hang(f"over {seconds:g} s of CPU time")

    previous = signal.signal(signal.SIGPROF, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main(["--no-plugins", *argv])
    return rc, out.getvalue(), err.getvalue()


def _icv_leaks(capture: Path, jsonl: str, plain: Path) -> list[str]:
    """Output that shows decrypted bytes of a packet whose ICV failed: a JSON line with a
    plaintext for such a packet, or a ``decrypt`` output frame that is not the frame as
    captured."""
    problems = []
    failed: set[int] = set()
    for line in jsonl.splitlines():
        row = json.loads(line)
        d = row.get("esp", {}).get("decryption")
        if d and d["status"] not in ("ok", "decrypted_unverified") and d["plaintext_length"]:
            problems.append(f"frame {row['frame']}: status {d['status']} with plaintext")
        if d and d["status"] == "icv-failed":
            failed.add(row["frame"])
    if failed and plain.exists():
        try:
            original = [(f[2], f[3]) for f in CaptureReader(capture) if f[0] in failed]
            reader = CaptureReader(plain)
            written = {f[3] for f in reader}
            link_types = {i.link_type for i in reader.info.interfaces}
        except Exception:  # the output is ours and must be readable: that is a finding too
            problems.append(f"decrypt output unreadable: {traceback.format_exc(limit=2)}")
            return problems
        for link_type, data in original:
            # a frame of another link type is not written at all (a pcap has one)
            if link_type in link_types and data not in written:
                problems.append(
                    f"an ESP frame whose ICV failed ({len(data)} bytes) is missing from the "
                    "decrypt output as captured: replaced by other bytes"
                )
    return problems


def run_capture(
    path: Path, keys: list[Path], tally: Tally, capture: str, mutator: str, seed: int,
    limit: float = DEFAULT_TIME_LIMIT,
) -> list[Finding]:  # fmt: skip
    """Run the four commands on ``path``; return what went wrong."""
    key_args = [a for k in keys for a in ("--keys", str(k))]
    findings: list[Finding] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ipsec-fuzz-") as tmp:
        plain = Path(tmp) / "plain.pcap"
        runs = [
            ["summary", str(path), *key_args],
            ["export", str(path), *key_args, "-o", str(Path(tmp) / "doc.json")],
            ["decrypt", str(path), *key_args, "-o", str(plain)],
            ["packets", str(path), *key_args, "--format", "jsonl"],
        ]
        jsonl = ""
        try:
            with time_limit(limit):
                for argv in runs:
                    rc, out, err = _cli(argv)
                    tally.commands += 1
                    for line in repeated_parts(err, path)[:3]:
                        findings.append(Finding("repeat", capture, mutator, seed, line))
                    tally.exit_codes[rc] = tally.exit_codes.get(rc, 0) + 1
                    # decrypt exits 1 when nothing could be decrypted (its documented
                    # "no usable keys" outcome); a traceback would still be exit 1 with
                    # "Traceback" on stderr, which is a crash
                    documented = (0, 1, 3) if argv[0] == "decrypt" else (0, 3)
                    if rc not in documented or "Traceback (most recent call last)" in err:
                        findings.append(
                            Finding("crash", capture, mutator, seed, f"{argv[0]} exit {rc}")
                        )
                    if argv[0] == "packets":
                        jsonl = out
        except Hang as e:
            findings.append(
                Finding("hang", capture, mutator, seed, f"{e}: {traceback.format_exc(limit=-3)}")
            )
        except Exception as e:
            site = traceback.extract_tb(e.__traceback__)[-1]
            findings.append(
                Finding(
                    "crash", capture, mutator, seed,
                    f"{type(e).__name__}: {e} at {Path(site.filename).name}:{site.lineno}",
                )
            )  # fmt: skip
        else:
            for leak in _icv_leaks(path, jsonl, plain):
                findings.append(Finding("icv-leak", capture, mutator, seed, leak))
    elapsed = time.monotonic() - start
    tally.slowest = max(tally.slowest, elapsed)
    tally.seconds += elapsed
    tally.captures += 1
    return findings


KEY_TABLES = ("esp_sa", "ikev1_decryption_table", "ikev2_decryption_table")


def keys_for(path: Path) -> list[Path]:
    """The key files that belong to a capture: ``x*.keys.toml`` beside ``x.pcap`` (samples),
    Wireshark's key tables in a shared capture's own folder."""
    stem = path.name.split(".")[0]
    out = sorted(path.parent.glob(f"{stem}*.keys.toml"))
    out += [path.parent / name for name in KEY_TABLES if (path.parent / name).is_file()]
    return out[:3]

"""Decryption status (issue 18): a packet whose integrity was not checked is
``decrypted_unverified``, never ``decrypted``, on every path (record path, fast lane,
decryption worker processes), and the SA gets a finding that it has no integrity key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from ipsec_inspect.export.timeline import build_timeline, load_schema
from ipsec_inspect.pipeline.session import Analysis
from tests.pcapbuild import bulk_esp_capture

PACKETS = 2000  # 500 per SA; SAs c0000003/c0000004 are AES-CBC + HMAC-SHA1-96
TAMPERED = 7  # frame 7 is the second packet of SA c0000003 (frames 3, 7, 11, … are its)

# tcpdump -E secrets: the encryption key only; "-hmac96" says a 12-byte ICV follows,
# which tcpdump (and so we) cannot check without its key.
TCPDUMP_SECRETS = """\
0xc0000003@198.51.100.1 aes128-cbc-hmac96:0x202122232425262728292a2b2c2d2e2f
0xc0000004@192.0.2.1 aes128-cbc-hmac96:0x4445464748494a4b4c4d4e4f50515253
"""


def _tamper(path: Path, frame: int) -> None:
    """Flip one ciphertext byte in the middle of ``frame``'s ESP payload (pcap, Ethernet):
    the padding and the inner header stay intact, only the ICV would notice."""
    data = bytearray(path.read_bytes())
    at = 24
    for _ in range(frame - 1):
        at += 16 + int.from_bytes(data[at + 8 : at + 12], "little")
    esp = at + 16 + 14 + 20
    assert int.from_bytes(data[esp : esp + 4], "big") == 0xC0000003
    data[esp + 8 + 16 + 70] ^= 0x40  # block 5 of the ciphertext (the inner UDP payload)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    out = bulk_esp_capture(tmp_path_factory.mktemp("unverified") / "esp.pcap", PACKETS)
    _tamper(out, TAMPERED)
    secrets = out.with_name("esp.tcpdump")
    secrets.write_text(TCPDUMP_SECRETS)
    return out, secrets, out.with_suffix(".keys.toml")


def _run(path: Path, keys: Path, **options: object) -> tuple[dict, list[dict], list[str]]:
    a = Analysis(str(path), key_paths=[str(keys)], keep_index=True, **options)  # type: ignore[arg-type]
    doc = build_timeline(a.run(), {"path": str(path)})
    assert a.decryptor is not None
    if options.get("decrypt_workers"):
        assert a.offloaded > 0, "no packet went through a worker process"
    doc["index"] = [list(a.index.frame), list(a.index.flags)]  # the TUI's packet marks
    return doc, [c.to_json() for c in a.decryptor.counters()], a.problems()


def _directions(doc: dict) -> dict[str, tuple[int, int, int]]:
    return {
        d["spi"]: (d["decrypted"], d["decrypted_unverified"], d["icv_failures"])
        for c in doc["child_sas"]
        for d in c["directions"]
    }


def test_full_keys_catch_the_tampered_packet(capture: tuple[Path, Path, Path]) -> None:
    path, _secrets, full = capture
    doc, _counters, _problems = _run(path, full, fast_lane=False)
    assert _directions(doc)["c0000003"] == (499, 0, 1)
    assert _directions(doc)["c0000004"] == (500, 0, 0)


def test_encryption_only_keys_count_decrypted_unverified(capture: tuple[Path, Path, Path]) -> None:
    path, secrets, _full = capture
    doc, counters, problems = _run(path, secrets, fast_lane=False)
    ways = _directions(doc)
    # The tampered packet decrypts (one block garbled) and is counted unverified, never
    # as decrypted; nothing is called an ICV failure because nothing was checked.
    assert ways["c0000003"] == (0, 500, 0)
    assert ways["c0000004"] == (0, 500, 0)
    assert ways["c0000001"] == ways["c0000002"] == (0, 0, 0)  # GCM SAs: no key given
    frames, flags = doc["index"]
    # Frames 3, 7, 11, … and 4, 8, 12, … are the CBC SAs: marked decrypted (bit 1) and
    # unverified (bit 3, UNVERIFIED_FLAG); the GCM frames carry neither.
    assert {f for f, fl in zip(frames, flags, strict=True) if fl & 8} == {
        n for n in range(1, PACKETS + 1) if n % 4 in (3, 0)
    }
    assert all(fl & 2 for fl in flags if fl & 8)
    by_sa = {c["sa"].split()[2]: c for c in counters}
    assert by_sa["0xc0000003"]["decrypted"] == 0
    assert by_sa["0xc0000003"]["decrypted_unverified"] == 500
    assert by_sa["0xc0000003"]["icv_failed"] == 0
    assert any("0xc0000003" in p and "no integrity key" in p for p in problems)
    s11 = [f for f in doc["findings"] if f["rule"] == "S11" and f["outcome"] == "fail"]
    (finding,) = s11  # the two CBC SPIs are the two directions of one child SA
    assert "no integrity key" in finding["detail"] and "1000 packets" in finding["detail"]
    assert "0xc0000003" in finding["detail"] and "0xc0000004" in finding["detail"]


@pytest.mark.parametrize(
    "options",
    [
        {"fast_lane": True},
        {"fast_lane": True, "decrypt_workers": 1, "offload_options": {"batch_frames": 64}},
        {"fast_lane": True, "decrypt_workers": 1, "offload_options": {"batch_frames": 1}},
    ],
    ids=["fast-lane", "workers", "workers-one-frame-batches"],
)
def test_every_path_counts_identically(
    capture: tuple[Path, Path, Path], options: dict[str, object]
) -> None:
    path, secrets, _full = capture
    assert _run(path, secrets, **options) == _run(path, secrets, fast_lane=False)


def test_summary_json_and_text_say_decrypted_unverified(capture: tuple[Path, Path, Path]) -> None:
    path, secrets, _full = capture
    cmd = [sys.executable, "-m", "ipsec_inspect", "summary", str(path), "--keys", str(secrets)]
    doc = json.loads(
        subprocess.run(
            [*cmd, "--format", "json"], check=True, capture_output=True, text=True
        ).stdout
    )
    assert _directions(doc)["c0000003"] == (0, 500, 0)
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    schema_direction = load_schema()["$defs"]["direction"]["properties"]
    assert "ICV was not checked" in schema_direction["decrypted_unverified"]["description"]
    text = subprocess.run(
        [*cmd, "--format", "text"], check=True, capture_output=True, text=True
    ).stdout
    header = next(line for line in text.splitlines() if "decrypted" in line and "SPI" in line)
    row = next(line for line in text.splitlines() if line.startswith("│ ESP   │ 0xc0000003"))
    columns = [c.strip() for c in header.split("┃")]
    values = [c.strip() for c in row.split("│")]
    assert values[columns.index("decrypted")] == "0"
    assert values[columns.index("unverified")] == "500"

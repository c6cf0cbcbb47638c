"""The generated samples: reproducible from the committed generator, readable by tshark
without errors, and carrying real cryptography (tshark decrypts them with the key tables
the generator wrote).

Why tshark here: Wireshark is an implementation independent of both our analyser and the
generator, so a good ICV in tshark proves the generator's IKE key exchange, key derivation
and encryption are right, not merely self-consistent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sample_corpus import ROOT, SAMPLES

# Top-level entries of samples/ that the generator does not write.
NOT_GENERATED = {"README.md", "generator", "realpeer", "__init__.py", "__pycache__"}

SAMPLE_CAPTURES = [
    "ikev2-tunnel.pcapng",
    "ikev1-main-quick.pcap",
    "esp-algorithms.pcap",
    "ah.pcap",
    "wire-variety.pcapng",
    "malformed.pcap",
]

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def _files(base: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base)
        if p.is_file() and rel.parts[0] not in NOT_GENERATED:
            out[rel.as_posix()] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the one regeneration command into a temporary directory."""
    out = tmp_path_factory.mktemp("samples")
    subprocess.run(
        [sys.executable, "-m", "samples.generator", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


def test_committed_samples_equal_generator_output(regenerated: Path) -> None:
    produced, committed = _files(regenerated), _files(SAMPLES)
    assert sorted(produced) == sorted(committed)
    changed = [name for name in produced if produced[name] != committed[name]]
    assert changed == [], "run `python -m samples.generator` and commit the result"
    assert set(SAMPLE_CAPTURES) <= set(produced)


def test_generator_runs_as_a_script(tmp_path: Path) -> None:
    """The alternative command, ``python samples/generator/generate.py OUT``, works too."""
    subprocess.run(
        [sys.executable, "samples/generator/generate.py", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "ah.pcap").read_bytes() == (SAMPLES / "ah.pcap").read_bytes()


def test_samples_are_small_and_use_documentation_addresses() -> None:
    for name in SAMPLE_CAPTURES:
        assert (SAMPLES / name).stat().st_size < 64 * 1024, name
    for toml in SAMPLES.glob("*.toml"):
        text = toml.read_text()
        for line in text.splitlines():
            if line.startswith(("src =", "dst =")):
                addr = line.split('"')[1]
                assert addr.startswith(("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:")), (
                    toml.name,
                    addr,
                )


# --------------------------------------------------------------------------- tshark


def _tshark(
    capture: Path, home: Path, profile: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``tshark -V`` with a private configuration directory (optionally a sample profile)."""
    conf = home / ".config" / "wireshark"
    conf.mkdir(parents=True, exist_ok=True)
    if profile is not None:
        for f in profile.iterdir():
            shutil.copy(f, conf / f.name)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    return subprocess.run(
        ["tshark", "-n", "-r", str(capture), "-V"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@needs_tshark
@pytest.mark.tshark
@pytest.mark.parametrize("name", [n for n in SAMPLE_CAPTURES if n != "malformed.pcap"])
@pytest.mark.parametrize("with_keys", [False, True], ids=["no-keys", "keys"])
def test_tshark_reads_sample_without_malformed(name: str, with_keys: bool, tmp_path: Path) -> None:
    profile = SAMPLES / name.replace(".pcapng", ".wireshark").replace(".pcap", ".wireshark")
    if with_keys and not profile.is_dir():
        pytest.skip(f"{name} has no Wireshark profile")
    result = _tshark(SAMPLES / name, tmp_path, profile if with_keys else None)
    assert result.returncode == 0, result.stderr
    assert "Malformed" not in result.stdout
    assert "Error loading table" not in result.stderr
    assert "incorrect" not in result.stdout


@needs_tshark
@pytest.mark.tshark
def test_tshark_flags_every_broken_frame_of_malformed_pcap(tmp_path: Path) -> None:
    result = _tshark(SAMPLES / "malformed.pcap", tmp_path)
    assert "cut short in the middle of a packet" in result.stderr
    frames = result.stdout.split("\nFrame ")
    assert len(frames) == 11  # the 12th record is the truncated one
    flagged = {i + 1 for i, text in enumerate(frames) if "Malformed" in text or "Bogus" in text}
    # Frames 1 and 11 are the valid ones.
    assert flagged == set(range(2, 11))


@needs_tshark
@pytest.mark.tshark
def test_wireshark_decrypts_ikev2_tunnel_with_the_written_profile(tmp_path: Path) -> None:
    out = _tshark(
        SAMPLES / "ikev2-tunnel.pcapng", tmp_path, SAMPLES / "ikev2-tunnel.wireshark"
    ).stdout
    # 30 ESP packets (4 SAs), every GCM tag good; 10 encrypted IKE messages, every ICV good.
    assert out.count("<AES-GCM [RFC4106]> [correct]") == 30
    assert out.count("<HMAC_SHA2_256_128 [RFC4868]>[correct]") == 10
    # The decrypted IKE_AUTH, CREATE_CHILD_SA and Delete payloads.
    assert out.count("Identification Data:left.example.com") == 1
    assert out.count("Notify Message Type: REKEY_SA (16393)") == 1
    assert out.count("Payload: Delete (42)") == 3
    # The inner traffic: five echo requests, the HTTP request of each TCP flow.
    assert out.count("Type: 8 (Echo (ping) request)") == 5
    assert out.count("GET / HTTP/1.0\\r\\n") >= 2


@needs_tshark
@pytest.mark.tshark
def test_wireshark_decrypts_ikev1_main_quick_with_the_written_profile(tmp_path: Path) -> None:
    out = _tshark(
        SAMPLES / "ikev1-main-quick.pcap", tmp_path, SAMPLES / "ikev1-main-quick.wireshark"
    ).stdout
    assert out.count("<HMAC-SHA-1-96 [RFC2404]> [correct]") == 12
    # Decrypted phase-2 content: the Quick Mode SAs and both Delete payloads.
    assert out.count("Protocol ID: IPSEC_ESP (3)") >= 3
    assert out.count("Delete SPI:") == 2


@needs_tshark
@pytest.mark.tshark
def test_wireshark_verifies_every_checkable_esp_algorithm(tmp_path: Path) -> None:
    out = _tshark(
        SAMPLES / "esp-algorithms.pcap", tmp_path, SAMPLES / "esp-algorithms.wireshark"
    ).stdout
    # 17 SAs, 3 packets each (4 for the ESN SA). CCM (2 SAs), GMAC and ChaCha20 are beyond
    # Wireshark 4.0; the Blowfish SA uses CMAC and the ESN SA's ICV covers the high bits, so
    # both are decrypted with "no checking"; the other 11 SAs are verified.
    icv_lines = [line for line in out.splitlines() if line.lstrip().startswith("ESP ICV:")]
    assert sum(line.endswith("[correct]") for line in icv_lines) == 11 * 3
    assert sum(line.endswith("[unchecked]") for line in icv_lines) == 3 + 4
    assert out.count("ESP Decrypted Data") == 52 - 4 * 3

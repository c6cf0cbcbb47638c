"""``ipsec-inspect decrypt`` and ``ipsec-inspect keys export`` end to end."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from ipsec_inspect.cli import main
from ipsec_inspect.core.records import EspPacket
from ipsec_inspect.crypto.decryptor import Decryptor
from ipsec_inspect.crypto.keyfiles.detect import load_key_path
from ipsec_inspect.pipeline.records import read_records
from ipsec_inspect.sources.capture_file import CaptureReader

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / ".." / "shared" / "captures"
WIKI = CAPTURES / "wireshark-wiki"
SAMPLES = ROOT / "samples" / "realpeer"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def _frames(path: Path) -> list[tuple[float, int, bytes]]:
    """(time to the microsecond, link type, bytes) of every frame: a pcap input and its
    pcapng output hold the same raw timestamps, which the reader turns into floats that
    may differ in the last bit."""
    with CaptureReader(path) as reader:
        return [(round(t, 6), lt, bytes(d)) for _n, t, lt, d, _o, _i in reader]


def _esp_frames(path: Path) -> set[int]:
    return {r.meta.frame for r in read_records(path) if isinstance(r, EspPacket)}


def _decrypt(tmp_path: Path, capture: Path, *keys: Path) -> tuple[Path, int]:
    out = tmp_path / "plain.pcap"
    argv = ["decrypt", str(_need(capture)), "-o", str(out)]
    for k in keys:
        argv += ["--keys", str(_need(k))]
    return out, main(argv)


def test_tunnel_mode_nat_t_capture(tmp_path: Path) -> None:
    folder = WIKI / "ikev2_esp_aes-gcm_aes-ctr_aes-cbc"
    out, code = _decrypt(tmp_path, folder / "capture.pcapng", folder)
    assert code == 0
    before, after = _frames(folder / "capture.pcapng"), _frames(out)
    assert len(after) == len(before) == 54
    assert [t for t, _, _ in after] == pytest.approx([t for t, _, _ in before], abs=1e-6)
    assert {lt for _, lt, _ in after} == {1}
    esp = _esp_frames(folder / "capture.pcapng")
    assert len(esp) == 24
    for number, ((_, _, old), (_, _, new)) in enumerate(zip(before, after, strict=True), 1):
        if number not in esp:
            assert new == old
            continue
        pkt = Ether(new)
        assert pkt[IP].src.startswith("192.168.225.") and pkt[IP].dst.startswith("192.168.225.")
        assert pkt[ICMP].type in (0, 8)
    assert _esp_frames(out) == set()


def test_transport_mode_ipv4_and_ipv6(tmp_path: Path) -> None:
    folder = WIKI / "ipsec_esp_capture_1"
    out, code = _decrypt(tmp_path, folder / "capture.pcap", folder / "esp_sa")
    assert code == 0
    esp = _esp_frames(folder / "capture.pcap")
    assert len(esp) == 240
    after = _frames(out)
    assert len(after) == 841
    v4 = v6 = 0
    for number in esp:
        pkt = Ether(after[number - 1][2])
        if IP in pkt:
            ip = pkt[IP]
            assert ip.proto == 1 and ip.src == "190.0.0.1"
            recomputed = IP(bytes(ip))
            del recomputed.chksum
            assert IP(bytes(recomputed)).chksum == ip.chksum  # a valid header checksum
            assert ip.len == len(bytes(ip))
            v4 += 1
        else:
            ip6 = pkt[IPv6]
            assert ip6.nh == 58 and ip6.src == "3ffe::1"
            assert ip6.plen == len(bytes(ip6.payload))
            v6 += 1
    assert (v4, v6) == (120, 120)


def test_nested_esp_is_peeled_completely(tmp_path: Path) -> None:
    folder = WIKI / "ipsec_esp_capture_2"
    out, code = _decrypt(tmp_path, folder / "capture.pcap", folder / "esp_sa")
    assert code == 0
    esp = _esp_frames(folder / "capture.pcap")
    after = _frames(out)
    inner = [Ether(after[n - 1][2]) for n in sorted(esp)]
    requests = [p for p in inner if ICMP in p and p[ICMP].type == 8]
    assert len(requests) == 312 == len(inner)
    assert {p[IP].proto for p in inner} == {1}


def test_keys_derived_from_sk_d_are_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = SAMPLES / "ikev2-psk-gcm"
    out, code = _decrypt(tmp_path, folder / "capture.pcap", folder / "keys-ike-only.toml")
    assert code == 0
    esp = _esp_frames(folder / "capture.pcap")
    assert (
        f"{len(esp)} ESP packets replaced by their plaintext, 0 kept as captured"
        in capsys.readouterr().err
    )
    assert _esp_frames(out) == set()
    inner = [Ether(_frames(out)[n - 1][2]) for n in sorted(esp)]
    assert {p[IP].src for p in inner} <= {"203.0.113.1", "203.0.113.2"}


def test_wrong_key_keeps_packets_and_names_the_sa(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = WIKI / "ipsec_esp_capture_3"
    bad = tmp_path / "esp_sa"
    text = _need(folder / "esp_sa").read_text()
    bad.write_text(text.replace("hmacsha1authenticati", "hmacsha1authenticatX"))
    out, code = _decrypt(tmp_path, folder / "capture.pcap", bad)
    assert code == 1  # nothing decrypted: a failure, said in one sentence
    err = capsys.readouterr().err
    assert "ICV check failed" in err and "ESP SPI 0x0000000" in err
    assert "nothing was decrypted: no given or derived key decrypted any of its 18 ESP" in err
    assert _frames(out) == _frames(folder / "capture.pcap")  # nothing presented as data


def test_missing_capture_is_an_input_error(tmp_path: Path) -> None:
    keys = tmp_path / "k.toml"
    keys.write_text("")
    assert (
        main(
            [
                "decrypt",
                str(tmp_path / "none.pcap"),
                "--keys",
                str(keys),
                "-o",
                str(tmp_path / "o.pcap"),
            ]
        )
        == 3
    )


def test_keys_export_wireshark_profile_round_trip(tmp_path: Path) -> None:
    folder = _need(SAMPLES / "ikev2-psk-gcm")
    profile = tmp_path / "profile"
    code = main(["keys", "export", "--format", "wireshark", "--include-keys", str(profile),
                 str(folder / "capture.pcap"), "--keys", str(folder / "keys-ike-only.toml")])  # fmt: skip
    assert code == 0
    assert {p.name for p in profile.iterdir()} == {
        "esp_sa",
        "ikev1_decryption_table",
        "ikev2_decryption_table",
    }
    # The exported tables alone (no derivation needed any more) decrypt every ESP packet.
    dec = Decryptor(load_key_path(profile))
    esp = [
        dec.process(r) for r in read_records(folder / "capture.pcap") if isinstance(r, EspPacket)
    ]
    assert esp and all(
        isinstance(p, EspPacket) and p.decryption and p.decryption.status == "ok" for p in esp
    )


def test_keys_export_toml_hides_secrets_unless_asked(tmp_path: Path) -> None:
    folder = _need(SAMPLES / "ikev2-psk-gcm")
    sk_d = tomllib.loads((folder / "keys-ike-only.toml").read_text())["ike"][0]["sk_d"]
    plain, secret = tmp_path / "plain.toml", tmp_path / "secret.toml"
    base = [str(folder / "capture.pcap"), "--keys", str(folder / "keys-ike-only.toml")]
    assert main(["keys", "export", str(plain), *base]) == 0
    assert main(["keys", "export", "--include-keys", str(secret), *base]) == 0
    assert sk_d not in plain.read_text()
    exported = tomllib.loads(secret.read_text())
    assert sk_d in secret.read_text()
    assert len(exported["esp"]) == 4 and len(exported["ike"]) == 4
    with pytest.raises(SystemExit) as exited:  # a usage error: argparse's usage line, exit 2
        main(["keys", "export", "--format", "wireshark", str(tmp_path / "p"), *base])
    assert exited.value.code == 2

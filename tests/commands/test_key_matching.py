"""Keys that match nothing, or add nothing, are named once with the SPIs on both sides."""

from __future__ import annotations

from pathlib import Path

from .cli_run import SAMPLES, cli

CAPTURE = str(SAMPLES / "ikev2-tunnel.pcapng")
SEEN = (
    "the capture has ESP SPIs 0x5689e52a, 0x74c81c44, 0xc27e43a0, 0xe9511913, "
    "IKE SPIs ef757aec6f6166d4"
)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ipsec-inspect: warning:")]


def test_keys_for_another_capture_are_named_once(tmp_path: Path) -> None:
    keys = tmp_path / "other.toml"
    keys.write_text(
        '[[esp]]\nspi = "0x00001000"\nencryption = "aes-cbc"\n'
        'encryption_key = "00112233445566778899aabbccddeeff"\n'
        '[[ike]]\nspi_i = "0102030405060708"\nspi_r = "1112131415161718"\n'
    )
    for command in ("summary", "export"):
        done = cli(
            command, CAPTURE, "--keys", str(keys), *(["-o", "/dev/null"] * (command == "export"))
        )
        assert done.returncode == 0, done.stderr
        assert _warnings(done.stderr) == [
            f"ipsec-inspect: warning: {keys}: no key matches this capture: it holds ESP SPIs "
            f"0x00001000 and IKE SPIs 0102030405060708; {SEEN}"
        ]
        assert "00112233445566778899" not in done.stderr + done.stdout


def test_a_file_that_adds_nothing_is_named() -> None:
    keys = str(SAMPLES / "ikev2-tunnel.keys.toml")
    again = str(SAMPLES / "ikev2-tunnel.wireshark")
    done = cli("summary", CAPTURE, "--keys", keys, "--keys", again)
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == [
        f"ipsec-inspect: warning: {again}: adds no key: every SA of this capture it holds a key "
        "for already has one from the files before it or from derivation"
    ]


def test_matching_keys_say_nothing() -> None:
    done = cli("summary", CAPTURE, "--keys", str(SAMPLES / "ikev2-tunnel.keys.toml"))
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stderr) == []


def test_packets_names_keys_that_match_nothing_too() -> None:
    other = str(SAMPLES / "ah.keys.toml")
    done = cli("packets", CAPTURE, "--keys", other)
    assert done.returncode == 0, done.stderr
    (line,) = _warnings(done.stderr)
    assert line.startswith(f"ipsec-inspect: warning: {other}: no key matches this capture")
    assert line.endswith(SEEN)


def test_a_file_of_no_key_format_is_named_once(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text('{"spi": "0x1234"}\n')
    done = cli("summary", CAPTURE, "--keys", str(keys))
    assert done.returncode == 3
    assert (
        done.stderr == f"ipsec-inspect: {keys}: not a key file in any format ipsec-inspect reads\n"
    )
    missing = tmp_path / "nope.toml"
    done = cli("summary", CAPTURE, "--keys", str(missing))
    assert done.returncode == 3
    assert done.stderr.count(str(missing)) == 1

"""Usage errors — invalid option values included — exit 2 with argparse's usage line."""

from __future__ import annotations

import pytest

from .cli_run import cli

CAPTURE = "samples/ikev2-tunnel.pcapng"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["summary", CAPTURE, "--spi", "zz"], "argument --spi: 'zz' is not a hexadecimal SPI"),
        (["packets", CAPTURE, "--spi", "0x123456789abcdef01"], "is not a hexadecimal SPI"),
        (["summary", CAPTURE, "--peer", "1.2.3"], "argument --peer: '1.2.3' is not an IP address"),
        (
            ["packets", CAPTURE, "--decode-as", "udp.port=abc:ike"],
            "argument --decode-as: 'udp.port=abc:ike': expected udp.port=N",
        ),
        (["packets", CAPTURE, "--decode-as", "udp.port=70000:ike"], "port 70000 out of range"),
        (["summary", CAPTURE, "--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
        (["export", CAPTURE, "--format", "yaml"], "unknown export format 'yaml' (known: json"),
        (["export"], "export needs a capture file (or --schema)"),
        (["summary", CAPTURE, "--replay-window", "0"], "--replay-window and --idle-timeout"),
        (["--policy", "nosuch", "summary", CAPTURE], "--policy: "),
    ],
)
def test_bad_option_value_is_a_usage_error(argv: list[str], says: str) -> None:
    done = cli(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("usage: ipsec-inspect"), done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_good_values_still_filter() -> None:
    done = cli("packets", CAPTURE, "--peer", "192.0.2.1", "--spi", "0x" + "0" * 7 + "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no SPI 1 in the sample: nothing selected, no error


def test_wireshark_tables_without_include_keys_is_a_usage_error(tmp_path: object) -> None:
    keys = "samples/ikev2-tunnel.keys.toml"
    done = cli(
        "keys", "export", "--format", "wireshark", "/nonexistent/out", CAPTURE, "--keys", keys
    )
    assert done.returncode == 2
    assert done.stderr.startswith("usage: ipsec-inspect keys")
    assert "Wireshark tables are key material; add --include-keys to write them" in done.stderr

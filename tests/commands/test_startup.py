"""Start-up cost: a command that does not open the TUI imports no Textual (issue 14).

Each command runs in a fresh interpreter, so ``sys.modules`` shows exactly what it
imported. The timing goal itself (summary of a one-packet capture) is measured in
benchmarks/, never here; this checks the imports that make it.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
HEAVY = ("textual", "scapy", "jsonschema", "pyshark", "rich")

PROBE = """
import contextlib, io, json, sys
from ipsec_inspect.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
doc = {"code": code, "heavy": heavy, "out": out.getvalue(), "modules": sorted(sys.modules)}
print(json.dumps(doc))
""".replace("HEAVY", repr(HEAVY))


def _probe(*argv: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (("summary", str(SAMPLES / "ah.pcap")), {"rich"}),  # its text tables are rich's
        (("summary", str(SAMPLES / "ah.pcap"), "--format", "json"), set()),
        (("export", str(SAMPLES / "ah.pcap")), set()),
        (("packets", str(SAMPLES / "ah.pcap")), set()),
        (("plugins",), set()),
    ],
)
def test_a_command_without_the_tui_imports_no_textual(
    argv: tuple[str, ...], allowed: set[str]
) -> None:
    got = _probe(*argv)
    assert got["code"] == 0
    assert set(got["heavy"]) == allowed  # type: ignore[arg-type]


def test_the_probe_sees_what_a_command_printed() -> None:
    got = _probe("summary", str(SAMPLES / "ah.pcap"), "--format", "json")
    doc = json.loads(str(got["out"]))
    assert doc["capture"]["frames"] == 15
    assert doc["capture"]["path"].endswith("ah.pcap")


#: What a short command imports only when it is needed (issue 14 item 7): the
#: cryptography package and the modules that bind it (only to decrypt or derive), the
#: charon-log parser (only to read a log), importlib.metadata (only when an installed
#: distribution announces a plugin the run would load), hashlib (IKE NAT detection),
#: socket (the decoder needs only inet_ntop), the pipeline session from the plugin API,
#: and every other command's module (the parser is built for the command given).
LAZY = (
    "cryptography",
    "ipsec_inspect.crypto.algorithms",
    "ipsec_inspect.crypto.strongswan_log",
    "importlib.metadata",
    "hashlib",
    "socket",
    "ipsec_inspect.commands.decrypt",
    "ipsec_inspect.commands.export",
    "ipsec_inspect.commands.plugins",
    "ipsec_inspect.commands.sniff",
)


def _one_packet_capture(folder: Path) -> Path:
    """The first frame of samples/ah.pcap as a capture of its own (as benchmarks/startup.py)."""
    data = (SAMPLES / "ah.pcap").read_bytes()
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    (incl,) = struct.unpack_from(endian + "I", data, 24 + 8)
    path = folder / "one.pcap"
    path.write_bytes(data[: 24 + 16 + incl])
    return path


def test_summary_of_one_packet_imports_only_what_it_draws(tmp_path: Path) -> None:
    """The start-up goal's command imports none of the modules made lazy for it, while it
    still imports what it really uses (the audit rules, rich's tables): a change that
    imports one of them again at start-up fails here, without timing anything."""
    from ipsec_inspect.plugins.loader import (
        BUNDLED_PACKAGE,
        ENTRY_POINT_GROUP,
        entry_points_may_load,
    )

    got = _probe("summary", str(_one_packet_capture(tmp_path)))
    assert got["code"] == 0
    assert "1 frames; 0 IKE messages, 0 ESP and 1 AH packets" in str(got["out"])
    modules = set(got["modules"])  # type: ignore[call-overload]
    assert {"ipsec_inspect.audit.rules", "rich.table", "ipsec_inspect.commands.summary"} <= modules
    lazy = set(LAZY)
    if entry_points_may_load(ENTRY_POINT_GROUP, BUNDLED_PACKAGE + "."):
        lazy.discard("importlib.metadata")  # a third-party plugin is installed: it is needed
    assert sorted(lazy & modules) == []


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["summary", "x.pcap"], "summary"),
        (["--no-plugins", "summary", "x.pcap"], "summary"),
        (["--plugin-dir", "summary", "export", "x.pcap"], "export"),  # DIR named summary
        (["--plugin-dir=d", "--pol", "cnsa", "packets", "x"], "packets"),  # an abbreviation
        (["--p", "d", "summary"], None),  # ambiguous: argparse says so
        (["--help"], None),
        (["--version"], None),
        (["--no-plugins=1", "summary"], None),
        (["--policy"], None),
        (["sumary", "x.pcap"], None),  # not a command: argparse lists the choices
        ([], None),
    ],
)
def test_the_command_is_told_from_the_line_only_when_argparse_would_agree(
    argv: list[str], command: str | None
) -> None:
    from ipsec_inspect.cli import _command_in

    assert _command_in(argv) == command


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-plugins", "summary", "a.pcap", "--limit", "3", "--spi", "0x1"],
        ["--policy", "cnsa", "export", "a.pcap", "--format", "json"],
        ["packets", "a.pcap", "b.pcap", "--decode-as", "udp.port=4501:ike"],
    ],
)
def test_the_parser_of_one_command_parses_its_line_as_the_whole_parser(argv: list[str]) -> None:
    """Building only the named command's parser (start-up) changes no parsed value."""
    from ipsec_inspect.cli import build_parser

    one = vars(build_parser(argv).parse_args(argv))
    every = vars(build_parser().parse_args(argv))
    assert one.pop("_parser").prog == every.pop("_parser").prog == f"ipsec-inspect {one['command']}"
    assert one == every

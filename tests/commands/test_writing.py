"""Every output: a write error is one sentence and exit 3; a closed pipe is a quiet exit 0."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ipsec_inspect.commands import sniff
from ipsec_inspect.core.errors import InputError
from ipsec_inspect.sources.capture_file import CaptureReader
from ipsec_inspect.sources.pcapng_writer import PcapngWriter

from .cli_run import cli, exit_code, shell

CAPTURE = "samples/ikev2-tunnel.pcapng"
KEYS = "samples/ikev2-tunnel.keys.toml"
FULL = "/dev/full"

needs_dev_full = pytest.mark.skipif(not os.path.exists(FULL), reason="no /dev/full here")


def _one_sentence(stderr: str, path: str) -> None:
    lines = [line for line in stderr.splitlines() if not line.startswith("ipsec-inspect: warning")]
    assert lines == [f"ipsec-inspect: {path}: cannot write (No space left on device)"], stderr


@needs_dev_full
@pytest.mark.parametrize(
    "argv",
    [
        ["export", CAPTURE, "-o", FULL],
        ["export", CAPTURE, "-o", "/dev/null", "--events", FULL],
        [
            "export",
            "samples/realpeer/ikev1-aggressive-psk/capture.pcap",
            "-o",
            "/dev/null",
            "--export-psk-crack",
            FULL,
        ],
        ["export", CAPTURE, "-o", FULL, "--format", "zeek-ipsec-log"],
    ],
)
def test_a_full_output_file_is_one_sentence_and_exit_3(argv: list[str]) -> None:
    done = cli(*argv)
    assert done.returncode == 3, done.stderr
    _one_sentence(done.stderr, FULL)


@needs_dev_full
@pytest.mark.parametrize(
    "argv",
    [
        ["summary", CAPTURE],
        ["summary", CAPTURE, "--format", "json"],
        ["packets", CAPTURE],
        ["packets", CAPTURE, "--format", "jsonl"],
        ["export", CAPTURE],
        ["export", "--schema"],
        ["plugins"],
    ],
)
def test_a_full_standard_output_is_one_sentence_and_exit_3(argv: list[str]) -> None:
    with open(FULL, "w") as full:
        done = cli(*argv, stdout=full)
    assert done.returncode == 3, done.stderr
    _one_sentence(done.stderr, "standard output")


@pytest.mark.parametrize(
    "command",
    [
        f"export {CAPTURE} -o -",
        f"export {CAPTURE} --keys {KEYS}",
        f"export {CAPTURE} --format zeek-ipsec-log",
        f"export {CAPTURE} -o /dev/null --events - 2>&1",
        f"summary {CAPTURE}",
        f"summary {CAPTURE} --format json",
        f"packets {CAPTURE}",
        f"packets {CAPTURE} --format jsonl",
    ],
)
def test_a_closed_pipe_ends_quietly_with_exit_0(command: str) -> None:
    done = shell(f"python -m ipsec_inspect {command} | head -1")
    assert exit_code(done) == 0
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr.strip().splitlines() == ["rc=0"], done.stderr


def test_what_was_written_before_a_failure_stays(tmp_path: Path) -> None:
    out = tmp_path / "timeline.json"
    done = cli("export", CAPTURE, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["capture"]["frames"] == 43


class _Frames:
    """A live source stand-in: 200 frames of 1400 bytes, then the end."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        for n in range(1, 201):
            yield (n, 1.0 + n, 1, b"\x00" * 1400, 1400, 0)


@contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Files of this process may grow to ``limit`` bytes; a write past it fails (EFBIG)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_ring_file_write_error_names_the_file_and_keeps_the_frames_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ring.pcapng"
    limit = 64 * 1024
    with _file_size_limit(limit):
        writer = PcapngWriter(path, iface_name="veth0", ring_size=1 << 20, ring_files=2)
        stop = sniff._Stopper(_Frames())  # type: ignore[arg-type]
        with pytest.raises(InputError) as raised:
            for _frame in sniff._frames(_Frames(), writer, None, stop):  # type: ignore[arg-type]
                pass
    message = str(raised.value)
    name = writer.files[-1]
    assert message.startswith(f"{name}: cannot write frame ")
    assert "(File too large); the " in message and "frames before it were written" in message
    frame = int(message.split("cannot write frame ")[1].split()[0])
    assert 10 < frame < 200
    # What reached the disk is a readable capture of the frames before the failure.
    with contextlib.suppress(OSError):
        writer.close()
    frames = list(CaptureReader(str(name)))
    assert 0 < len(frames) < frame
    assert [f[0] for f in frames] == list(range(1, len(frames) + 1))
    assert all(f[3] == b"\x00" * 1400 for f in frames)

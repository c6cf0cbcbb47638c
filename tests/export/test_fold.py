"""``summary`` on a narrow terminal folds each table into blocks; wide output keeps tables."""

from __future__ import annotations

import io

from rich.console import Console

from ipsec_inspect.commands._console import CliConsole
from ipsec_inspect.export.summary_text import render_summary
from ipsec_inspect.pipeline.session import Analysis

from ..sample_corpus import SAMPLES

SUITE = "ENCR_AES_CBC_256/PRF_HMAC_SHA2_256/AUTH_HMAC_SHA2_256_128/Curve25519"


def _render(width: int, terminal: bool) -> str:
    analysis = Analysis(str(SAMPLES / "ikev2-tunnel.pcapng"), keep_index=False)
    result = analysis.run()
    out = io.StringIO()
    console: Console = CliConsole(
        file=out, force_terminal=terminal, width=width, color_system=None, highlight=False
    )
    render_summary(result, console)
    return out.getvalue()


def test_narrow_terminal_folds_into_one_block_per_sa() -> None:
    text = _render(80, terminal=True)
    lines = text.splitlines()
    assert "…" not in text and "┏" not in text
    assert all(len(line.rstrip()) <= 80 for line in lines)
    assert "ike-ef757aec6f6166d4" in lines  # the block's heading: the SA, on a line of its own
    assert f" suite:     {SUITE}" in [line.rstrip() for line in lines]
    assert " ending:         rekeyed @20 (inferred)" in [line.rstrip() for line in lines]
    assert lines.count("child-1") == 1 and lines.count("child-2") == 1
    assert " SPIs (packets): e9511913->198.51.100.1 (9), 5689e52a->192.0.2.1 (7)" in [
        line.rstrip() for line in lines
    ]


def test_very_narrow_terminal_wraps_values_beside_their_labels() -> None:
    lines = [line.rstrip() for line in _render(40, terminal=True).splitlines()]
    assert all(len(line) <= 40 for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith(" suite:"))
    assert lines[start] == " suite:     ENCR_AES_CBC_256/PRF_HMAC_SH"
    assert lines[start + 1] == "            A2_256/AUTH_HMAC_SHA2_256_12"  # the value's column
    assert lines[start + 2] == "            8/Curve25519"


def test_wide_terminals_and_pipes_keep_the_tables() -> None:
    wide = _render(200, terminal=True)
    assert "┏" in wide and SUITE in wide and "…" not in wide
    piped = _render(80, terminal=False)  # not a terminal: the layout scripts may parse
    assert "┏" in piped


def test_blocks_can_be_headed_by_several_cells() -> None:
    from rich.table import Table

    from ipsec_inspect.export.fold import print_table

    table = Table(title="ESP/AH SPIs")
    for column in ("proto", "SPI", "source", "destination", "packets"):
        table.add_column(column)
    table.add_row("ESP", "0xe9511913", "192.0.2.1", "198.51.100.1", "9" * 60)
    out = io.StringIO()
    console = CliConsole(file=out, force_terminal=True, width=60, color_system=None)
    print_table(console, table, heading_columns=2)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    assert lines[:4] == ["ESP/AH SPIs", "ESP 0xe9511913", " source:      192.0.2.1",
                         " destination: 198.51.100.1"]  # fmt: skip
    assert lines[4] == " packets:     " + "9" * 46 and lines[5] == "              " + "9" * 14

"""``summary`` on a narrow terminal folds each table into blocks; wide output keeps tables."""

from __future__ import annotations

import functools
import io

from rich.console import Console
from rich.table import Table

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


# ------------------------------------------------------------ plain tables without rich


def _both_ways(table_of: object, width: int = 160) -> tuple[str, str | None]:
    """``table_of()`` printed by rich, and by ``plain_table``, on a plain 160-column pipe."""
    from ipsec_inspect.export.fold import plain_table

    out = io.StringIO()
    console = CliConsole(file=out, width=width, highlight=False, emoji=False)
    console.print(table_of())  # type: ignore[operator]
    return out.getvalue(), plain_table(console, table_of())  # type: ignore[operator]


def _table(title: str | None, justs: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, just in enumerate(justs):
        table.add_column(f"col {i}" if i % 3 else "id", justify=just)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    return table


def test_a_plain_table_is_drawn_as_rich_draws_it() -> None:
    import random

    rng = random.Random(16)
    words = ["", "x", "  lead", "trail  ", "ESP", "0x1000", "…", "§4.5", "a b c", "→", "10"]
    styled = ["[red]high[/]", "[bold red]critical[/]", "[dim]info[/]", "[dim][/]"]

    def cell() -> str:
        if rng.random() < 0.2:
            return rng.choice(styled)
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, 4)))

    drawn = 0
    for n in range(300):
        columns = rng.randint(1, 7)
        justs = [rng.choice(["left", "right"]) for _ in range(columns)]
        rows = [[cell() for _ in justs] for _ in range(rng.randint(0, 6))]
        title = rng.choice([None, "Peers (3)", f"IKE SAs ({n:,})", "a much longer title " * 3])

        make = functools.partial(_table, title, justs, rows)
        by_rich, plain = _both_ways(make, width=rng.choice([40, 80, 160]))
        if plain is not None:
            assert plain == by_rich, (title, justs, rows)
            drawn += 1
    assert drawn > 100  # many are plain; the others (too wide, long titles) go to rich


def test_tables_with_markup_or_too_wide_are_left_to_rich() -> None:
    """A cell that is one styled word is plain text without colour; other markup (an
    escaped bracket, a link) is rich's to read."""

    def marked() -> Table:
        table = Table(title="Findings", title_justify="left")
        table.add_column("severity")
        table.add_row("[red]high[/] \\[not a tag]")
        return table

    def wide() -> Table:
        table = Table(title="t", title_justify="left")
        table.add_column("detail")
        table.add_row("x" * 200)
        return table

    assert _both_ways(marked)[1] is None
    assert _both_ways(wide)[1] is None
    by_rich, _ = _both_ways(marked)
    assert "high" in by_rich and "[red]" not in by_rich


def test_the_summary_of_the_samples_is_rich_s_own_on_a_pipe() -> None:
    """Every table ``summary`` prints, drawn without rich where it can be: the same text."""
    from unittest import mock

    from ipsec_inspect.export import fold

    for name in ("ikev2-tunnel.pcapng", "ikev1-main-quick.pcap", "wire-variety.pcapng"):
        result = Analysis(str(SAMPLES / name), keep_index=False).run()
        texts = []
        for plain in (fold.plain_table, lambda *_a: None):
            out = io.StringIO()
            console = CliConsole(file=out, width=160, highlight=False, emoji=False)
            with mock.patch.object(fold, "plain_table", plain):
                render_summary(result, console)
            texts.append(out.getvalue())
        assert texts[0] == texts[1]
        assert "┏" in texts[0]

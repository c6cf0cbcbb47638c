"""Tables for people that fold on a narrow terminal instead of cutting their cells.

Why: at 80 columns rich shrinks every column of a wide table until each cell reads
``ike-2… │ 192.0… │ ENCR_…``. When a table does not fit the terminal it is printed as one
block per row — the first cell as the block's heading, then ``label: value`` lines that
wrap — so nothing is cut. Wide terminals, pipes and files keep the tables (a pipe gets a
fixed wide console in ``summary``), so scripts that read them see the same layout.
"""

from __future__ import annotations

import re

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def fits(console: Console, table: Table) -> bool:
    """Whether ``table`` can be drawn at its natural width (no cell shortened)."""
    unbounded = console.options.update(width=1 << 20)  # a table measures within its width
    return Measurement.get(console, unbounded, table).maximum <= console.width


def print_table(console: Console, table: Table, heading_columns: int = 1) -> None:
    """Print ``table``; on a terminal too narrow for it, as one block per row headed by
    its first ``heading_columns`` cells."""
    if not console.is_terminal:
        text = plain_table(console, table)
        if text is not None:
            console.file.write(text)
            console.file.flush()  # as rich does after each print
            return
    if not console.is_terminal or fits(console, table):
        console.print(table)
        return
    print_blocks(console, table, heading_columns)


def plain_table(console: Console, table: Table) -> str | None:
    """The text rich prints for ``table`` on ``console`` when both are plain — no colour,
    a UTF-8 pipe or file, the default table form, cells of plain printable text (no
    markup) that fit the width unwrapped — or None (rich then draws it).

    Why: ``summary`` prints each of its tables (up to 50 rows) through rich's layout
    engine, a fifth of the output time of a flood's summary; for a table that needs no
    wrapping the layout is just the widest cell of each column. Same characters
    (``tests/export/test_fold.py`` compares the two).
    """
    if not _plain_form(console, table):
        return None
    columns = table.columns
    cells: list[list[str]] = []
    for c in columns:
        column = [str(c.header), *map(_unstyled, c._cells)]
        if not all(cell is not None and "[" not in cell and cell.isprintable() for cell in column):
            return None
        cells.append(column)  # type: ignore[arg-type]  # no None: checked above
    widths = [max(map(cell_len, column)) for column in cells]
    width = sum(widths) + 3 * len(widths) + 1
    title = table.title
    if width > console.width or (title is not None and not _plain_title(title, width)):
        return None
    justs: list[str] = [c.justify for c in columns]
    lines = [] if title is None else [str(title) + " " * (width - cell_len(str(title)))]
    lines.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    lines.append(_row([c[0] for c in cells], widths, justs, "┃"))
    lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    lines.extend(
        _row([c[n] for c in cells], widths, justs, "│") for n in range(1, table.row_count + 1)
    )
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return "\n".join(lines) + "\n"


#: a cell that is one styled word or phrase, ``[red]high[/]`` (colour only, not shown here)
_STYLED = re.compile(r"\[([a-z ]+)\]([^\[\]\\]*)\[/\]")


def _unstyled(cell: object) -> str | None:
    """A cell's text as printed without colour; None for anything but a plain string."""
    if type(cell) is not str:
        return None
    if cell.startswith("["):
        styled = _STYLED.fullmatch(cell)
        return styled.group(2) if styled else None
    return cell


def _plain_form(console: Console, table: Table) -> bool:
    """Console and table as ``summary`` makes them: what :func:`plain_table` draws."""
    return (
        console.color_system is None
        and not console.is_terminal
        and not console.quiet
        and console.encoding.lower().replace("-", "") == "utf8"
        and not console.options.ascii_only
        and not console.record
        and table.box is box.HEAVY_HEAD
        and table.show_header
        and table.show_edge
        and not table.show_lines
        and not table.show_footer
        and not table.expand
        and table.width is None
        and table.min_width is None
        and table.caption is None
        and table.padding == (0, 1, 0, 1)
        and table.pad_edge
        and not table.collapse_padding
        and table.leading == 0
        and not table.row_styles
        and table.title_justify == "left"
        and bool(table.columns)
        and all(not r.end_section and r.style is None for r in table.rows)
        and all(_plain_column(c) for c in table.columns)
    )


def _plain_column(column: object) -> bool:
    c = column
    return (
        getattr(c, "justify", None) in ("left", "right")
        and getattr(c, "width", 0) is None
        and getattr(c, "min_width", 0) is None
        and getattr(c, "max_width", 0) is None
        and getattr(c, "ratio", 0) is None
        and type(getattr(c, "header", None)) is str
        and not getattr(c, "footer", "")
        and getattr(c, "vertical", None) == "top"
    )


def _plain_title(title: object, width: int) -> bool:
    return (
        type(title) is str
        and "[" not in title
        and title.isprintable()
        and title == title.strip()
        and cell_len(title) <= width
    )


def _row(cells: list[str], widths: list[int], justs: list[str], bar: str) -> str:
    out = []
    for cell, w, just in zip(cells, widths, justs, strict=True):
        if just == "right":
            cell = cell.rstrip()
            out.append(" " * (w - cell_len(cell)) + cell)
        else:
            out.append(cell + " " * (w - cell_len(cell)))
    return bar + " " + f" {bar} ".join(out) + " " + bar


def print_blocks(console: Console, table: Table, heading_columns: int = 1) -> None:
    """Every row of ``table`` as a block: its first cells as a heading, then ``label:
    value`` lines whose values wrap beside their labels."""
    if table.title:
        console.print(Text.from_markup(str(table.title), style="bold italic"))
    columns = table.columns
    if not columns:
        return
    cells = [list(c.cells) for c in columns]
    head = max(1, min(heading_columns, len(columns)))
    labels = [f"{c.header}:" for c in columns[head:]]
    for row in range(table.row_count):
        heading = " ".join(str(column[row]) for column in cells[:head])
        console.print(Text.from_markup(f"[bold]{heading}[/]"))
        block = Table.grid(padding=(0, 1))
        block.add_column(no_wrap=True)  # the indent
        block.add_column(no_wrap=True)  # the label
        block.add_column(overflow="fold")  # the value: wraps, never cut
        for label, column in zip(labels, cells[head:], strict=True):
            value = str(column[row])
            if value:
                block.add_row("", label, Text.from_markup(value))
        console.print(block)

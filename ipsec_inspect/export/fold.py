"""Tables for people that fold on a narrow terminal instead of cutting their cells.

Why: at 80 columns rich shrinks every column of a wide table until each cell reads
``ike-2… │ 192.0… │ ENCR_…``. When a table does not fit the terminal it is printed as one
block per row — the first cell as the block's heading, then ``label: value`` lines that
wrap — so nothing is cut. Wide terminals, pipes and files keep the tables (a pipe gets a
fixed wide console in ``summary``), so scripts that read them see the same layout.
"""

from __future__ import annotations

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
    if not console.is_terminal or fits(console, table):
        console.print(table)
        return
    print_blocks(console, table, heading_columns)


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

"""Which SAs have keys — supplied, derived or missing — and a way to load more."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ipsec_inspect.tui.catalog import KeyRow

STATUS_STYLE = {
    "supplied": "green",
    "derived": "cyan",
    "decrypted": "green",
    "decrypted_unverified": "yellow",
    "missing": "yellow",
    "failed": "red",
}


class KeysPanel(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[KeyRow] = []

    def compose(self) -> ComposeResult:
        yield Static("keys: none loaded — press [b]K[/b] to load a key file", id="keys-files")
        table: DataTable[Text | str] = DataTable(id="keys-table", cursor_type="row")
        table.add_columns("SA", "what", "key", "decrypted", "origin")
        yield table

    def update_rows(self, rows: list[KeyRow], files: list[str]) -> None:
        names = ", ".join(files) if files else "none loaded"
        self.query_one("#keys-files", Static).update(
            f"key files: {names} — press [b]K[/b] to load another"
        )
        if rows == self.rows:
            return
        self.rows = rows
        table: DataTable[Text | str] = self.query_one("#keys-table", DataTable)
        table.clear()
        for r in rows:
            table.add_row(
                r.sa,
                r.what,
                Text(r.status, STATUS_STYLE.get(r.status, "")),
                f"{r.decrypted}/{r.packets}",
                r.origin,
            )

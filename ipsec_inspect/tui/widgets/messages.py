"""Messages the panes post to the app, which owns selection and routes it to the others.

Why messages rather than panes calling each other: each pane stays ignorant of the
rest of the layout, so panes can be rearranged or reused (the live view of issue 7).
"""

from __future__ import annotations

from textual.message import Message


class SaChosen(Message):
    """An SA was highlighted (tree, finding, keys panel)."""

    def __init__(self, uid: str) -> None:
        super().__init__()
        self.uid = uid


class FrameChosen(Message):
    """A frame should become the packet list's cursor (timeline event, finding)."""

    def __init__(self, frame: int, sa: str | None = None) -> None:
        super().__init__()
        self.frame = frame
        self.sa = sa


class RowChosen(Message):
    """The packet list's cursor moved to an index row."""

    def __init__(self, row: int) -> None:
        super().__init__()
        self.row = row

"""The rich console of the commands that print tables (imported when they run).

Why: rich's default answer to ``BrokenPipeError`` is ``SystemExit(1)``; ``cli.main``
treats a reader that went away (``| head``) as the Unix tools do, with exit 0.
"""

from __future__ import annotations

from rich.console import Console


class CliConsole(Console):
    """A rich console that lets a closed pipe end the command quietly (exit 0)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError

"""``ipsec-inspect open``: the terminal UI on a capture.

Why the capture is opened before the app starts: an unreadable capture or key file is
best reported as one line on the terminal with exit code 3 (like every other command),
not as a screen the user must dismiss. Everything after that is reported inside the UI.

Why it refuses without a terminal: the UI reads keys from standard input and draws with
escape codes on standard output; piped or redirected, it would write escape codes until
killed. The capture is checked first, so a wrong path is still named (exit 3).
"""

from __future__ import annotations

import argparse
import sys

from ipsec_inspect.commands._common import add_capture_arguments, decode_options, extensions_of
from ipsec_inspect.core.errors import EXIT_USAGE

NAME = "open"
HELP = "open a capture in the terminal UI (SA tree, timeline, packets, findings, keys)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p, workers=True)
    p.add_argument("--light", action="store_true", help="start with the light theme")


def run(args: argparse.Namespace) -> int:
    from ipsec_inspect.pipeline.session import Analysis

    analysis = Analysis(
        args.capture,
        decode_options(args),
        args.keys,
        decrypt_workers=args.decrypt_workers,
        extensions=extensions_of(args),
    )
    analysis.open().close()  # raises InputError (exit 3) for a missing or non-capture file
    not_tty = [n for n, f in (("input", sys.stdin), ("output", sys.stdout)) if not _is_tty(f)]
    if not_tty:
        print(
            f"ipsec-inspect: open needs a terminal, but standard {' and '.join(not_tty)} "
            f"{'is' if len(not_tty) == 1 else 'are'} not one (use 'summary', 'packets' or "
            "'export' to write to a pipe or a file).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from ipsec_inspect.tui.app import InspectorApp

    app = InspectorApp(analysis)
    if args.light:
        app.theme = "textual-light"
    app.run()
    analysis.close()
    return app.return_code or 0


def _is_tty(stream: object) -> bool:
    """``stream.isatty()``, false for a closed or missing stream (``open < /dev/null``, ``>&-``)."""
    try:
        return bool(stream is not None and stream.isatty())  # type: ignore[attr-defined]
    except (ValueError, OSError):
        return False

"""``ipsec-inspect open``: the terminal UI on a capture.

Why the capture is opened before the app starts: an unreadable capture or key file is
best reported as one line on the terminal with exit code 3 (like every other command),
not as a screen the user must dismiss. Everything after that is reported inside the UI.
"""

from __future__ import annotations

import argparse

from ipsec_inspect.commands._common import add_capture_arguments, decode_options, extensions_of

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
    from ipsec_inspect.tui.app import InspectorApp

    app = InspectorApp(analysis)
    if args.light:
        app.theme = "textual-light"
    app.run()
    analysis.close()
    return app.return_code or 0

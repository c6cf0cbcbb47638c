"""``ipsec-inspect open``: the terminal UI on a capture.

Why the capture is opened before the app starts: an unreadable capture or key file is
best reported as one line on the terminal with exit code 3 (like every other command),
not as a screen the user must dismiss. Everything after that is reported inside the UI.

The UI reads frames back by their offset when a row is shown, so inputs that cannot seek —
standard input (``-``) and fsspec URLs — are first copied to temporary files (for this
command only; the other commands stream them). After standard input is copied, the
terminal becomes standard input again, so the keyboard reaches the UI.

Why it refuses without a terminal: the UI reads keys from standard input and draws with
escape codes on standard output; piped or redirected, it would write escape codes until
killed. The capture is checked first, so a wrong path is still named (exit 3).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack

from ipsec_inspect.commands._common import (
    add_capture_arguments,
    decode_options,
    extensions_of,
    time_window,
)
from ipsec_inspect.core.errors import EXIT_USAGE, InputError
from ipsec_inspect.sources.multi import STDIN, is_url

NAME = "open"
HELP = "open a capture in the terminal UI (SA tree, timeline, packets, findings, keys)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_capture_arguments(p, workers=True)
    p.add_argument("--light", action="store_true", help="start with the light theme")
    p.add_argument(
        "--include-keys",
        action="store_true",
        help="show secrets in decrypted IKE bytes (an XAUTH or EAP-GTC password; masked otherwise)",
    )


def _spool(name: str, stack: ExitStack) -> str:
    """Copy standard input or a URL into a temporary file the UI can seek in."""
    fd, tmp = tempfile.mkstemp(prefix="ipsec-inspect-", suffix=".cap")
    stack.callback(os.unlink, tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            if name == STDIN:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
            else:
                import fsspec

                with fsspec.open(name, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (OSError, ValueError, ImportError) as e:
        raise InputError(f"{name}: cannot read ({e})") from None
    if name == STDIN:
        _terminal_as_stdin()
    return tmp


def _terminal_as_stdin() -> None:
    try:
        tty = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        return  # no terminal: the UI will say it cannot read keys
    os.dup2(tty, 0)
    os.close(tty)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's stdin, never closed


def run(args: argparse.Namespace) -> int:
    from ipsec_inspect.pipeline.session import Analysis

    with ExitStack() as stack:
        captures = [_spool(c, stack) if c == STDIN or is_url(c) else c for c in args.capture]
        analysis = Analysis(
            captures,
            decode_options(args),
            args.keys,
            decrypt_workers=args.decrypt_workers,
            window=time_window(args),
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

        app = InspectorApp(analysis, include_keys=args.include_keys)
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

"""The command line: one sub-command per module in :mod:`ipsec_inspect.commands`.

Why discovery: each command lives in its own small module (``commands/packets.py``,
``commands/summary.py`` …) exposing ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. The CLI lists that package, so adding a command never means editing
a shared switch statement.

Exit codes: 0 success, 2 usage error (argparse), 3 the input cannot be read (missing file,
not a capture, unreadable key file), 1 any other failure that was reported.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from ipsec_inspect import __version__, commands

if TYPE_CHECKING:
    from ipsec_inspect.plugins.registry import PluginRegistry

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INPUT = 3


class InputError(Exception):
    """The user's input cannot be read; the message is one clear sentence."""


class UsageError(Exception):
    """An option value argparse could not check (it depends on plugins or on another
    option): reported like argparse's own errors, with the usage line and exit 2."""


class OutputError(InputError):
    """An output cannot be written (disk full, I/O error): one sentence, exit 3. What was
    written before stays written. ``stdout``: the output was standard output."""

    def __init__(self, message: str, stdout: bool = False) -> None:
        super().__init__(message)
        self.stdout = stdout


class GuardedOutput:
    """A text stream whose write errors become one :class:`OutputError` sentence.

    Why a wrapper: output is written from many places (``print``, ``json.dump``, rich
    tables, plugin exporters); catching ``OSError`` around each would miss some, and a
    bare ``OSError`` at exit is a traceback. A closed pipe (``BrokenPipeError``) is not an
    error and passes through, so :func:`main` can end quietly as Unix tools do.
    """

    def __init__(self, stream: TextIO, name: str, *, is_stdout: bool = False) -> None:
        self._stream = stream
        self._name = name
        self._is_stdout = is_stdout
        self._failed_once = False

    def _failed(self, exc: OSError) -> OutputError:
        self._failed_once = True
        return OutputError(
            f"{self._name}: cannot write ({exc.strerror or exc})", stdout=self._is_stdout
        )

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def close(self) -> None:
        """Flush and close; after a failed write the unwritable rest is dropped quietly."""
        try:
            self._stream.close()
        except BrokenPipeError:
            pass
        except OSError as exc:
            if not self._failed_once:
                raise self._failed(exc) from None

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, …
        return getattr(self._stream, name)


def _quiet_stdout() -> None:
    """After the reader went away: point stdout at /dev/null so the flush at exit is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    except OSError:
        pass


def _flush_stdout() -> None:
    """Flush standard output now, inside :func:`main`'s error handling, not at exit."""
    out = sys.stdout
    if out is not None:
        out.flush()


def _command_modules() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipsec-inspect",
        description="Packet-level IPsec analyser: IKEv1/IKEv2, ESP and AH, decrypted, as SA lifecycles.",
    )
    parser.add_argument("--version", action="version", version=f"ipsec-inspect {__version__}")
    parser.add_argument(
        "--plugin-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="load the plugins in DIR (repeatable); see 'ipsec-inspect plugins'",
    )
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="NAME",
        help="also audit against this site policy from a plugin (repeatable; e.g. cnsa)",
    )
    parser.add_argument(
        "--no-plugins",
        action="store_true",
        help="load no plugin (neither entry points, nor --plugin-dir, nor a checkout's plugins/)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _command_modules():
        p = sub.add_parser(
            mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP)
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _parser=p)
    return parser


def _load_plugins(args: argparse.Namespace) -> PluginRegistry | None:
    """Load and install the plugins once, explicitly; failures are reported, never fatal."""
    if args.no_plugins:
        return None
    from ipsec_inspect.plugins.loader import load_plugins

    registry = load_plugins(args.plugin_dir)
    if args.command != "plugins":  # that command lists failures itself
        for line in registry.load_report_lines():
            print(f"ipsec-inspect: warning: {line}", file=sys.stderr)
    try:
        registry.select_policies(args.policy)
    except ValueError as e:
        raise UsageError(f"--policy: {e}") from None
    return registry


def main(argv: Sequence[str] | None = None) -> int:
    from ipsec_inspect.plugins import hooks as plugin_hooks

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.no_plugins and args.policy:
        parser.error("--policy needs plugins (it names a plugin's policy); drop --no-plugins")
    try:
        registry = _load_plugins(args)
    except UsageError as e:
        parser.error(str(e))
    except InputError as e:
        print(f"ipsec-inspect: {e}", file=sys.stderr)
        return EXIT_INPUT
    real_stdout = sys.stdout
    if real_stdout is not None and not isinstance(real_stdout, GuardedOutput):
        sys.stdout = GuardedOutput(real_stdout, "standard output", is_stdout=True)
    try:
        with plugin_hooks.installed(registry):
            status = int(args._run(args))
        _flush_stdout()
        return status
    except InputError as e:
        print(f"ipsec-inspect: {e}", file=sys.stderr)
        if isinstance(e, OutputError) and e.stdout:
            _quiet_stdout()  # the unwritable rest must not fail again at exit
        return EXIT_INPUT
    except UsageError as e:
        args._parser.error(str(e))  # prints the usage line; exits 2
        raise  # not reached: error() exits
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``| head``): not an error of ours.
        _quiet_stdout()
        return EXIT_OK
    finally:
        sys.stdout = real_stdout
        if registry is not None and args.command != "plugins":
            for line in registry.runtime_report_lines():
                print(f"ipsec-inspect: warning: {line}", file=sys.stderr)

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
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from ipsec_inspect import __version__, commands
from ipsec_inspect.core.errors import EXIT_INPUT, EXIT_OK, InputError, OutputError, UsageError
from ipsec_inspect.core.output import GuardedOutput

if TYPE_CHECKING:
    from ipsec_inspect.plugins.registry import PluginRegistry


def _command_names() -> list[str]:
    """The modules of :mod:`ipsec_inspect.commands`, from its folder(s).

    A plain folder listing, not ``pkgutil.iter_modules``: that one imports ``inspect``,
    which alone costs a tenth of the start-up of a short command.
    """
    names: set[str] = set()
    for folder in commands.__path__:
        try:
            entries = os.listdir(folder)
        except OSError:  # not a folder (a zip import): ask the import system instead
            import pkgutil

            return sorted(i.name for i in pkgutil.iter_modules(commands.__path__))
        for entry in entries:
            stem, ext = os.path.splitext(entry)
            if ext == ".py" and stem.isidentifier():
                names.add(stem)
    return sorted(names)


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


def _command_modules(only: str | None = None) -> list[ModuleType]:
    mods = []
    for name in _command_names():
        if name.startswith("_") or (only is not None and name != only):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


# The options before the command, and whether each takes a value (``cli.build_parser``).
_GLOBAL_OPTIONS = {"--plugin-dir": True, "--policy": True, "--no-plugins": False}


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` when it can be told without argparse, else None.

    Why: importing every command module to build the whole parser costs a short command
    (``summary`` of a small capture) a large part of its start-up, while the parser of
    one command parses that command's line alike: the top-level usage names no command
    (its metavar is ``COMMAND``). Anything unusual (``--help``, ``--version``, an unknown
    or ambiguous option, ``--``) answers None, and the whole parser decides as before.
    """
    args = iter(argv)
    for arg in args:
        if not arg.startswith("-"):
            return arg if arg in _command_names() else None
        name, eq, _ = arg.partition("=")
        # argparse accepts a unique prefix of a long option (allow_abbrev)
        matches = [o for o in _GLOBAL_OPTIONS if len(name) > 2 and o.startswith(name)]
        if len(matches) != 1:
            return None
        takes_value = _GLOBAL_OPTIONS[matches[0]]
        if not takes_value and eq:
            return None
        if takes_value and not eq and next(args, None) is None:
            return None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command-line parser; given ``argv`` naming a command, with only that command.

    Only that command's module is imported then (start-up of a short command, issue 14).
    """
    only = _command_in(argv) if argv is not None else None
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
    for mod in _command_modules(only):
        p = sub.add_parser(
            mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP)
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _parser=p)
    return parser


def _load_plugins(args: argparse.Namespace) -> PluginRegistry | None:
    """Load the plugins once, explicitly; failures are reported, never fatal."""
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


def _compose(args: argparse.Namespace, registry: PluginRegistry | None) -> None:
    """The run's extension tables, composed once and handed to the command in ``args``."""
    from ipsec_inspect.export.formats import BUILTIN_EXPORTERS
    from ipsec_inspect.plugins.compose import compose_extensions

    args.plugin_registry = registry
    args.extensions = compose_extensions(registry, BUILTIN_EXPORTERS)


#: the cyclic collector's thresholds for a command run from the command line (see ``main``):
#: a young-generation pass per 50,000 allocations instead of 700, older ones 50x rarer
GC_THRESHOLDS = (50_000, 50, 50)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        # The process's own command line (start-up, issue 14): the imports that building
        # the parser pulls in create thousands of long-lived objects (dataclasses, enums,
        # tables) that the cyclic collector would scan again and again. It is off until the
        # command runs, and what the imports made is then frozen out of its later scans.
        # Not when called with ``argv`` (tests, embedding): freezing is process-wide.
        # Then the collector runs rarely (GC_THRESHOLDS): the analysis keeps every SA it
        # makes, so each young-generation pass found nearly everything alive and the
        # older generations were rescanned as they grew (issue 16: 45% of a 100,000-SA
        # summary); the model makes next to no cyclic garbage.
        gc.disable()
        try:
            parser = build_parser(sys.argv[1:])
        finally:
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            gc.enable()
    else:
        parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.no_plugins and args.policy:
        parser.error("--policy needs plugins (it names a plugin's policy); drop --no-plugins")
    try:
        registry = _load_plugins(args)
        _compose(args, registry)
    except UsageError as e:
        parser.error(str(e))
    except InputError as e:
        print(f"ipsec-inspect: {e}", file=sys.stderr)
        return EXIT_INPUT
    real_stdout = sys.stdout
    if real_stdout is not None and not isinstance(real_stdout, GuardedOutput):
        sys.stdout = GuardedOutput(real_stdout, "standard output", is_stdout=True)
    try:
        status = int(args._run(args))
        if argv is None:
            # The process ends here: what the command analysed is now garbage, held in
            # reference cycles (SAs and their stages point at each other), which only the
            # collector frees — at exit, a full pass over all of it (0.37 s for the
            # 20,000 SAs a flood leaves, a sixth of the run). Frozen, it is never scanned;
            # the system takes the memory back with the process.
            gc.freeze()
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

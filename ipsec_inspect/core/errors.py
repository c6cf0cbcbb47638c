"""Error types shared across layers.

Why here: an error raised low down (the pipeline cannot open a capture, a key file cannot
be read) is turned into an exit code high up (``cli.py``). The type must live below both,
or every layer that raises it would import the command line. Errors that belong to one
layer (``Truncated`` of the reader, ``CaptureError`` of the file source, ``KeyFileError``
of the key files) stay beside the code that raises them.
"""

from __future__ import annotations

# Exit codes of every command (the CLI's docstring says when each is used).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INPUT = 3


class InputError(Exception):
    """The user's input cannot be read; the message is one clear sentence.

    The CLI prints it as ``ipsec-inspect: <message>`` and exits with code 3.
    """


class UsageError(Exception):
    """An option value argparse could not check (it depends on plugins or on another
    option): the CLI reports it like argparse's own errors, with the usage line, exit 2."""


class OutputError(InputError):
    """An output cannot be written (disk full, I/O error): one sentence, exit 3. What was
    written before stays written. ``stdout``: the output was standard output."""

    def __init__(self, message: str, stdout: bool = False) -> None:
        super().__init__(message)
        self.stdout = stdout

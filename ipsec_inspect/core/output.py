"""A text output whose write errors become one sentence (:class:`OutputError`).

Why a wrapper: output is written from many places (``print``, ``json.dump``, rich tables,
plugin exporters); catching ``OSError`` around each would miss some, and a bare ``OSError``
at exit is a traceback. A closed pipe (``BrokenPipeError``) is not an error and passes
through, so the CLI can end quietly as Unix tools do. It lives in ``core`` because both
the CLI (standard output) and the commands (``-o`` files) wrap their streams with it.
"""

from __future__ import annotations

from typing import Any, TextIO

from ipsec_inspect.core.errors import OutputError


class GuardedOutput:
    """``stream`` under a ``name`` for messages (a path, or "standard output")."""

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

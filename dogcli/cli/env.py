"""The process's surroundings as the CLI sees them, in the style of httpie's Environment:
the standard streams, whether they are terminals, the environment variables and the clock.
main() builds one per run and hands it to every command and renderer; a test builds its own
(StringIO streams, a fixed clock) instead of patching sys."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import IO, Any

from dogcli.model import clock


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Environment:
    """Streams default to sys's at the moment the Environment is made (CliRunner and pytest
    swap them before that); isatty is asked once, then fixed."""

    def __init__(
        self,
        *,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        stdout_isatty: bool | None = None,
        stderr_isatty: bool | None = None,
        environ: Mapping[str, str] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.stdin: IO[str] = stdin if stdin is not None else sys.stdin
        self.stdout: IO[str] = stdout if stdout is not None else sys.stdout
        self.stderr: IO[str] = stderr if stderr is not None else sys.stderr
        self.stdout_isatty = _isatty(self.stdout) if stdout_isatty is None else stdout_isatty
        self.stderr_isatty = _isatty(self.stderr) if stderr_isatty is None else stderr_isatty
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.now: Callable[[], datetime] = clock.now if now is None else now

    @property
    def stdout_binary(self) -> IO[bytes]:
        """Where bytes go (export): the text stream's buffer."""
        buffer: IO[bytes] = getattr(self.stdout, "buffer", sys.stdout.buffer)
        return buffer

    def out(self, text: str, *, flush: bool = False) -> None:
        """A line of data on stdout."""
        print(text, file=self.stdout, flush=flush)

    def err(self, text: str) -> None:
        """A line on stderr, flushed: it must be out before the process ends."""
        print(text, file=self.stderr, flush=True)

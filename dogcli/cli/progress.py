"""What a running job shows: logging (one redacted line per message on stderr) and the
job's progress, a Rich bar on a terminal and plain log lines otherwise (systemd's journal,
cron mail, pipes)."""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import Any

from dogcli.cli.env import Environment
from dogcli.model.redact import redact_url


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_url(super().format(record))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the moment (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(RedactingFormatter("dogcli: %(message)s"))
    root = logging.getLogger("dogcli")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # Third-party chatter only when asked for.
    for name in ("selenium", "urllib3", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


class LogReporter:
    """Plain lines: one per (stream, day) page read."""

    def __init__(self, command: str) -> None:
        self.log = logging.getLogger(f"dogcli.{command}")

    def planned(self, days: int) -> None:
        self.log.debug("%d pages to read", days)

    def day_found(self, stream: str, day: date, found: int, new: int) -> None:
        self.log.info("%s %s: %d captures on the page, %d new", stream, day, found, new)

    def image_done(self, ok: bool) -> None:
        pass

    def note(self, message: str) -> None:
        self.log.warning("%s", message)

    def close(self) -> None:
        pass


class RichReporter(LogReporter):
    """A progress bar on a terminal: pages read, then images stored."""

    def __init__(self, env: Environment, command: str) -> None:
        super().__init__(command)
        from rich.console import Console as RichConsole
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=RichConsole(file=env.stderr),
            transient=False,
        )
        self.pages = self.progress.add_task("pages", total=0)
        self.images = self.progress.add_task("images", total=0)
        self.progress.start()

    def planned(self, days: int) -> None:
        self.progress.update(self.pages, total=days)

    def day_found(self, stream: str, day: date, found: int, new: int) -> None:
        self.progress.advance(self.pages)
        task = self.progress.tasks[self.images]
        self.progress.update(self.images, total=(task.total or 0) + new)
        self.progress.console.log(f"{stream} {day}: {found} captures, {new} new")

    def image_done(self, ok: bool) -> None:
        self.progress.advance(self.images)

    def note(self, message: str) -> None:
        self.progress.console.log(redact_url(message))

    def close(self) -> None:
        self.progress.stop()


def make_reporter(env: Environment, quiet: bool, command: str) -> LogReporter:
    """The bar for a person at a terminal, log lines for everyone else."""
    if env.stderr_isatty and not quiet:
        return RichReporter(env, command)
    return LogReporter(command)

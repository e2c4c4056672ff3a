"""What people see: logging, progress, the summary line, tables. Rich on a terminal, plain
lines otherwise (systemd's journal, cron mail, pipes)."""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import Any

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


class Console:
    """stdout for results, stderr for errors; quiet hides everything but errors and data."""

    def __init__(self) -> None:
        self.quiet = False

    @property
    def interactive(self) -> bool:
        return sys.stderr.isatty()

    def summary(self, line: str) -> None:
        if not self.quiet:
            print(redact_url(line), flush=True)

    def note(self, line: str) -> None:
        """A remark on stderr (stdout stays data), hidden by --quiet."""
        if not self.quiet:
            print(f"dogcli: {redact_url(line)}", file=sys.stderr, flush=True)

    def error_line(self, line: str) -> None:
        print(f"dogcli: {redact_url(line)}", file=sys.stderr, flush=True)

    def config_table(self, report: Any) -> None:
        """setting, value, source: plain aligned columns (read by people and grep alike)."""
        where = str(report.config_file) if report.config_file else "none"
        print(f"# config file: {where}")
        rows = [(e.key, e.shown(), f"{e.source} {e.origin}".strip()) for e in report.entries]
        width = [max(len(r[i]) for r in rows) for i in range(2)]
        for key, value, source in rows:
            print(f"{key:<{width[0]}}  {redact_url(value):<{width[1]}}  {source}".rstrip())

    def stats_table(self, report: dict[str, Any]) -> None:
        from rich import box
        from rich.table import Table

        if "terminals" in report:  # several terminals: a table each, then the runs once
            for terminal_report in report["terminals"].values():
                self.stats_table({**terminal_report, "last_runs": {}})
            last_runs = report.get("last_runs") or {}
            if last_runs:
                runs = [last_runs[c] for c in sorted(last_runs)]
                _rich_stdout().print(_runs_table(runs, "last runs"))
            return
        tz = report["timezone"]
        table = Table(
            title=f"dogcli archive · terminal {report['terminal']} · times in {tz}",
            box=box.SIMPLE_HEAD,
        )
        table.add_column("stream", no_wrap=True)
        for column in ("captures", "size"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("first", no_wrap=True)
        table.add_column("last", no_wrap=True)
        for column in ("1 h", "24 h", "today", "coverage"):
            table.add_column(column, justify="right", no_wrap=True)
        for stream, row in report["streams"].items():
            table.add_row(
                stream,
                f"{row['count']:,}",
                human_bytes(row["bytes"]),
                _local(row["first"], tz),
                _local(row["last"], tz),
                str(row["last_hour"]),
                str(row["last_24h"]),
                f"{row['today']}/{row['today_expected']}",
                f"{row['today_coverage']:.0%}",
            )
        console = _rich_stdout()
        console.print(table)
        last_runs = report.get("last_runs") or {}
        if last_runs:
            console.print(_runs_table([last_runs[c] for c in sorted(last_runs)], "last runs"))

    def runs_table(self, runs: list[Any]) -> None:
        _rich_stdout().print(_runs_table([r.as_json() for r in runs], "recent runs"))

    def gaps(self, report: Any) -> None:
        """The incomplete days, then coverage per day and per hour of the newest days."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        console = _rich_stdout()
        if report.incomplete:
            table = Table(title=f"incomplete days · terminal {report.terminal}",
                          box=box.SIMPLE_HEAD)  # fmt: skip
            for column in ("stream", "day", "listed", "stored", "thumbnail only", "missing",
                           "last read (UTC)", "late"):  # fmt: skip
                numeric = column in ("listed", "stored", "thumbnail only", "missing", "late")
                table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
            for state, late in report.incomplete:
                read = state.last_read.strftime("%Y-%m-%d %H:%M") if state.last_read else "never"
                table.add_row(
                    state.stream, state.day.isoformat(),
                    "-" if state.listed is None else str(state.listed), str(state.stored),
                    str(state.thumbnail), str(state.missing), read, f"{late:.0f} h",
                )  # fmt: skip
            console.print(table)
            console.print("fill them: dogcli backfill --gaps")
        else:
            console.print("no incomplete days")
        legend = Text()
        for kind, label in (("stored", "stored"), ("missing", "missing (archive gap)"),
                            ("outage", "nothing listed (camera outage)"),
                            ("pending", "not settled yet"), ("unread", "never read")):  # fmt: skip
            legend.append(_CELL[kind][0], style=_CELL[kind][1]).append(f" {label}  ")
        console.print(legend)
        streams = sorted({d.stream for d in report.days})
        for stream in streams:
            line = Text(f"{stream:<10} ")
            mine = [d for d in report.days if d.stream == stream]
            for state in mine[-60:]:
                glyph, style = _CELL[report.day_kind(state)]
                line.append(glyph, style=style)
            if mine:
                line.append(f"  {mine[max(0, len(mine) - 60)].day} .. {mine[-1].day}")
            console.print(line)
        for row in report.hours:
            line = Text(f"{row.stream:<10} {row.day} ")
            for _label, kind in row.cells:
                glyph, style = _CELL[kind]
                line.append(glyph, style=style)
            line.append(f"  {len(row.cells)} h from {row.cells[0][0] if row.cells else '-'}:00")
            console.print(line)


_CELL = {
    "stored": ("█", "green"),
    "missing": ("█", "red"),
    "outage": ("·", "bright_black"),
    "pending": ("▒", "yellow"),
    "unread": ("?", "magenta"),
}


def _rich_stdout() -> Any:
    from rich.console import Console as RichConsole

    # Pipes and files get a fixed width instead of 80 columns of truncation.
    width = None if sys.stdout.isatty() else 120
    return RichConsole(soft_wrap=False, width=width, highlight=False)


def _runs_table(runs: list[dict[str, Any]], title: str) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in ("command", "started (UTC)", "seconds", "outcome", "found", "new", "failed",
                   "deleted", "error"):  # fmt: skip
        numeric = column in ("seconds", "found", "new", "failed", "deleted")
        table.add_column(column, justify="right" if numeric else "left",
                         no_wrap=column != "error")  # fmt: skip
    for run in runs:
        started = (run.get("started_at") or "").replace("T", " ").replace("Z", "")[:19]
        seconds = run.get("seconds")
        table.add_row(
            run["command"], started, "-" if seconds is None else f"{seconds:.1f}", run["outcome"],
            str(run["found"]), str(run["new"]), str(run["failed"]), str(run["deleted"]),
            redact_url(run.get("error") or "")[:80],
        )  # fmt: skip
    return table


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _local(iso: str | None, tz: str) -> str:
    if not iso:
        return "-"
    from datetime import datetime
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))
    return f"{moment:%Y-%m-%d %H:%M}"


class LogReporter:
    """Plain lines: one per (stream, day) page read."""

    def __init__(self, console: Console, command: str) -> None:
        self.console = console
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

    def __init__(self, console: Console, command: str) -> None:
        super().__init__(console, command)
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
            console=RichConsole(stderr=True),
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


def make_reporter(console: Console, command: str) -> LogReporter:
    if console.interactive and not console.quiet:
        return RichReporter(console, command)
    return LogReporter(console, command)

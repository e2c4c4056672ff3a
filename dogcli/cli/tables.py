"""The tables and pictures people read: stats and runs (Rich tables), gaps (coverage per day
and hour in coloured cells), config (plain aligned columns, for people and grep alike).
Rich is imported here only, when a table is drawn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dogcli.cli.env import Environment
from dogcli.cli.render import human_bytes
from dogcli.model.redact import redact_url

if TYPE_CHECKING:
    from dogcli.jobs.config import ConfigReport
    from dogcli.reports.gaps import GapReport
    from dogcli.reports.stats import StatsReport, TerminalStats

_CELL = {
    "stored": ("█", "green"),
    "missing": ("█", "red"),
    "outage": ("·", "bright_black"),
    "pending": ("▒", "yellow"),
    "unread": ("?", "magenta"),
}


def config_table(env: Environment, report: ConfigReport) -> None:
    """setting, value, source: plain aligned columns (read by people and grep alike)."""
    where = str(report.config_file) if report.config_file else "none"
    env.out(f"# config file: {where}")
    rows = [(e.key, e.shown(), f"{e.source} {e.origin}".strip()) for e in report.entries]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    for key, value, source in rows:
        env.out(f"{key:<{width[0]}}  {redact_url(value):<{width[1]}}  {source}".rstrip())


def stats_table(env: Environment, report: StatsReport) -> None:
    """A table per terminal, then the last run of each command once."""
    console = _rich_stdout(env)
    for terminal in report.terminals:
        console.print(_stats_table(terminal))
        if not report.several:
            _last_runs(console, terminal)
    if report.several:
        _last_runs(console, report.terminals[0])


def _last_runs(console: Any, report: TerminalStats) -> None:
    last_runs = report.last_runs
    if last_runs:
        runs = [last_runs[c].as_json() for c in sorted(last_runs)]
        console.print(_runs_table(runs, "last runs"))


def _stats_table(report: TerminalStats) -> Any:
    from rich import box
    from rich.table import Table

    tz = report.timezone
    table = Table(
        title=f"dogcli archive · terminal {report.terminal} · times in {tz}",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("stream", no_wrap=True)
    for column in ("captures", "size"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("first", no_wrap=True)
    table.add_column("last", no_wrap=True)
    for column in ("1 h", "24 h", "today", "coverage"):
        table.add_column(column, justify="right", no_wrap=True)
    for stream, row in report.streams.items():
        table.add_row(
            stream,
            f"{row.count:,}",
            human_bytes(row.bytes),
            _local(row.first, tz),
            _local(row.last, tz),
            str(row.last_hour),
            str(row.last_24h),
            f"{row.today}/{row.today_expected}",
            f"{row.today_coverage:.0%}",
        )
    return table


def runs_table(env: Environment, runs: list[Any]) -> None:
    """The run journal's entries, as reports.looking.recent_runs gives them."""
    _rich_stdout(env).print(_runs_table([r.as_json() for r in runs], "recent runs"))


def gaps_picture(env: Environment, report: GapReport) -> None:
    """The incomplete days, then coverage per day and per hour of the newest days."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = _rich_stdout(env)
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


def _rich_stdout(env: Environment) -> Any:
    from rich.console import Console as RichConsole

    # Pipes and files get a fixed width instead of 80 columns of truncation.
    width = None if env.stdout_isatty else 120
    return RichConsole(file=env.stdout, soft_wrap=False, width=width, highlight=False)


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


def _local(moment: Any, tz: str) -> str:
    """An instant in the terminal's time zone, to the minute."""
    if not moment:
        return "-"
    from zoneinfo import ZoneInfo

    return f"{moment.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}"

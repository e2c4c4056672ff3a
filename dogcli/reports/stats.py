"""dogcli stats: per-stream counts, sizes, recency and today's coverage.

Totals come from the ledger (a row per day), so their cost does not grow with the number of
captures; first, last and the recent counts are index seeks and short index ranges. The
command reads them through the database's own driver when it can (catalog/quick.py):
importing SQLAlchemy would cost more than the queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dogcli.catalog.quick import StatsRows, read_stats
from dogcli.catalog.runrecord import RECORDED, Run
from dogcli.config import Settings
from dogcli.model import clock

if TYPE_CHECKING:
    from dogcli.catalog.captures import Catalog

CADENCE_MINUTES = 10


@dataclass(frozen=True)
class StreamStats:
    """One stream of one terminal: what is stored, how recent, and today's coverage."""

    stream: str
    count: int = 0
    bytes: int = 0
    first: datetime | None = None  # UTC
    last: datetime | None = None
    last_hour: int = 0
    last_24h: int = 0
    today: int = 0
    today_expected: int = 1  # what the page listed today, else the 10-minute cadence
    today_coverage: float = 0.0  # today / today_expected, 4 decimals


@dataclass(frozen=True)
class TerminalStats:
    terminal: str
    generated_at: datetime  # UTC
    timezone: str
    streams: dict[str, StreamStats] = field(default_factory=dict)  # by name, sorted
    last_runs: dict[str, Run] = field(default_factory=dict)  # by command


@dataclass(frozen=True)
class StatsReport:
    """A TerminalStats per chosen terminal (one, unless DOGCLI_CAMERAS names several);
    they share generated_at, timezone and last_runs (one run journal)."""

    terminals: list[TerminalStats]
    several: bool = False  # the archive has several terminals (reported one by one)


def stats_report(settings: Settings, streams: Sequence[str] = ()) -> StatsReport:
    """The report of the archive the settings name, without creating it."""
    scope = settings.scope(streams)
    terminals = [_terminal_report(settings, t, chosen) for t, chosen in scope.by_terminal()]
    return StatsReport(terminals, several=scope.several)


def _terminal_report(
    settings: Settings, terminal: str, streams: Sequence[str] = ()
) -> TerminalStats:
    now = clock.now()
    chosen = list(streams) or list(settings.streams)
    today = settings.zones.day_of(now)
    midnight = settings.zones.day_bounds(today)[0]
    rows = read_stats(settings, chosen, now, midnight, today, RECORDED, terminal)
    if rows is not None:
        return build_report(settings, chosen, now, rows, terminal)
    from dogcli.archive.session import Archive

    with Archive.open(settings) as session:
        return collect_stats(settings, session.existing_catalog(), chosen, now, terminal)


def collect_stats(
    settings: Settings,
    catalog: Catalog | None,
    streams: Sequence[str] = (),
    now: datetime | None = None,
    terminal: str | None = None,
) -> TerminalStats:
    """The report through SQLAlchemy; every configured (or requested) stream appears, even
    if empty. No catalog (no archive yet): every stream empty, no last runs."""
    from dogcli.catalog.ledger import Ledger
    from dogcli.catalog.runs import RunJournal

    now = (now or clock.now()).astimezone(UTC)
    today = settings.zones.day_of(now)
    midnight = settings.zones.day_bounds(today)[0]  # UTC: a DST morning's hours are real
    chosen = list(streams) or list(settings.streams)
    rows = StatsRows({}, {}, {})
    terminal = terminal or settings.terminal
    if catalog is not None:
        ledger = Ledger(catalog, terminal, settings.zones)
        rows = StatsRows(
            catalog.stream_stats(terminal, chosen, now, midnight),
            {d.stream: d.listed for d in ledger.days(chosen, today, today)},
            RunJournal(catalog).last_by_command(RECORDED),
        )
    return build_report(settings, chosen, now, rows, terminal)


def build_report(
    settings: Settings,
    streams: Sequence[str],
    now: datetime,
    rows: StatsRows,
    terminal: str | None = None,
) -> TerminalStats:
    """The typed report from the rows either way read (quick.py's or SQLAlchemy's)."""
    now = now.astimezone(UTC)
    midnight = settings.zones.day_bounds(settings.zones.day_of(now))[0]
    elapsed = (now - midnight).total_seconds() / 60
    cadence = max(1, int(elapsed // CADENCE_MINUTES))
    report: dict[str, StreamStats] = {}
    for stream in sorted(set(streams) | set(rows.totals)):
        row = rows.totals.get(stream) or {
            "count": 0, "bytes": 0, "first": None, "last": None,
            "last_hour": 0, "last_24h": 0, "today": 0,
        }  # fmt: skip
        # Expected today: what the page listed when last read, else the 10-minute cadence.
        expected = rows.listed.get(stream) or cadence
        report[stream] = StreamStats(
            stream=stream,
            count=row["count"],
            bytes=row["bytes"],
            first=_utc(row["first"]),
            last=_utc(row["last"]),
            last_hour=row["last_hour"],
            last_24h=row["last_24h"],
            today=row["today"],
            today_expected=expected,
            today_coverage=round(row["today"] / max(1, expected), 4),
        )
    return TerminalStats(
        terminal=terminal or settings.terminal,
        generated_at=now,
        timezone=settings.timezone,
        streams=report,
        last_runs=dict(rows.last_runs),
    )


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value else None

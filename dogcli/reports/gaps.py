"""dogcli gaps: which days are incomplete, and where the holes are, hour by hour.

A hole the camera left (nothing listed: an outage) is told apart from one the archive left
(listed, not stored). Hours are the real hours of each local day: 23 or 25 on DST days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from dogcli.archive.session import Archive
from dogcli.catalog.captures import Catalog
from dogcli.catalog.days import DayState, overdue
from dogcli.catalog.ledger import Ledger, archive_days
from dogcli.config import Settings
from dogcli.model import clock

HOURLY_DAYS = 3  # the newest days drawn hour by hour

# What one hour (or day) of the picture is.
STORED, MISSING, OUTAGE, PENDING, UNREAD = "stored", "missing", "outage", "pending", "unread"


@dataclass
class HourRow:
    stream: str
    day: date
    cells: list[tuple[str, str]]  # (local hour label "HH", kind)


@dataclass
class GapReport:
    terminal: str
    generated_at: datetime
    days: list[DayState] = field(default_factory=list)
    incomplete: list[tuple[DayState, float]] = field(default_factory=list)  # (day, hours late)
    hours: list[HourRow] = field(default_factory=list)
    settle_hours: float = 3.0

    def day_kind(self, state: DayState) -> str:
        late = {(d.stream, d.day) for d, _ in self.incomplete}
        if state.missing:
            return MISSING
        if (state.stream, state.day) in late:
            return UNREAD if state.last_read is None else PENDING
        if state.settled:
            return STORED
        return PENDING if state.last_read is not None else UNREAD


def gap_report(
    settings: Settings,
    catalog: Catalog | None,
    streams: Sequence[str],
    since: date | None = None,
    now: datetime | None = None,
    terminal: str | None = None,
) -> GapReport:
    terminal = terminal or settings.terminal
    now = (now or clock.now()).astimezone(UTC)
    report = GapReport(terminal, now, settle_hours=settings.settle_hours)
    if catalog is None:
        return report
    zones = settings.zones
    report.days = archive_days(settings, catalog, streams, since, now, terminal)
    for state in report.days:
        late = overdue(state, zones, settings.settle_hours, now)
        if late is not None:
            report.incomplete.append((state, late))
    ledger = Ledger(catalog, terminal, zones)
    today = zones.day_of(now)
    read = {(d.stream, d.day) for d in report.days if d.last_read is not None}
    for stream in streams:
        for back in range(HOURLY_DAYS - 1, -1, -1):
            day = today - timedelta(days=back)
            if since is not None and day < since:
                continue
            report.hours.append(_hours(ledger, stream, day, now, (stream, day) in read))
    return report


def _hours(ledger: Ledger, stream: str, day: date, now: datetime, read: bool) -> HourRow:
    zones = ledger.zones
    stored, missing = ledger.hours(stream, day)
    start, end = zones.day_bounds(day)
    cells: list[tuple[str, str]] = []
    hour = start
    while hour < end:
        upto = hour + timedelta(hours=1)
        has = sum(1 for t in stored if hour <= t < upto)
        lacks = sum(1 for t in missing if hour <= t < upto)
        if lacks:
            kind = MISSING
        elif has:
            kind = STORED
        elif hour >= now:
            kind = PENDING  # not yet
        elif not read:
            kind = UNREAD
        else:
            kind = OUTAGE  # nothing listed in that hour: the camera's gap, not ours
        cells.append((f"{hour.astimezone(zones.site):%H}", kind))
        hour = upto
    return HourRow(stream, day, cells)


def gaps_reports(
    settings: Settings, picked: Sequence[str] = (), since: date | None = None
) -> list[GapReport]:
    """One report per terminal of DOGCLI_CAMERAS (`picked`: `S` or `TERMINAL:S`), on the
    archive the settings name, without creating it."""
    scope = settings.scope(picked)
    with Archive.open(settings) as session:
        catalog = session.existing_catalog()
        return [
            gap_report(settings, catalog, streams, since, terminal=terminal)
            for terminal, streams in scope.by_terminal()
        ]

"""Which pages a collect job reads and which remembered captures it tries again: pure
decisions from the settings, the clock and the ledger (fetch_plan), or from the days a person
asked for (range_plan, gaps_plan)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dogcli.catalog.captures import Catalog
from dogcli.catalog.days import FULL_SIZE, DayState, Wanted, overdue
from dogcli.catalog.ledger import Ledger, incomplete_days
from dogcli.config import Settings
from dogcli.model import clock
from dogcli.model.days import days_between
from dogcli.model.errors import CatalogUnavailable


def site_today(settings: Settings, now: datetime | None = None) -> date:
    return settings.zones.day_of(now or clock.now())


def by_stream(plan: Sequence[tuple[str, date]]) -> list[tuple[str, date]]:
    """Every day of a stream before the next stream, days in their given order: a change of
    stream reloads the camera page, which first loads today's History and only then the day
    asked for (two API calls instead of one)."""
    rank: dict[str, int] = {}
    for stream, _day in plan:
        rank.setdefault(stream, len(rank))
    return sorted(plan, key=lambda item: rank[item[0]])


@dataclass
class Plan:
    pages: list[tuple[str, date]] = field(default_factory=list)
    retries: list[Wanted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fetch_plan(
    settings: Settings,
    catalog: Catalog | None,
    streams: Sequence[str],
    max_days: int | None = None,
    now: datetime | None = None,
    terminal: str | None = None,
) -> Plan:
    """What a fetch does: per stream, read today and every day of the catch-up window that
    has not settled, from where the stream's archive begins (its first day in the ledger, or
    the day of its newest capture, or today); try again the captures the ledger still wants
    in the window (a failed download, the full size of a kept thumbnail of an unsettled day)
    without reading their page again. Older incomplete days are named, not read."""
    terminal = terminal or settings.terminal
    now = now or clock.now()
    today = site_today(settings, now)
    window = today - timedelta(days=settings.catchup_days)
    zones = settings.zones
    ledger = Ledger(catalog, terminal, zones) if catalog is not None else None
    plan = Plan()
    states: dict[tuple[str, date], DayState] = {}
    try:
        if ledger is not None:
            states = {(d.stream, d.day): d for d in ledger.days(streams, since=window)}
    except CatalogUnavailable:
        ledger = None  # the collect job reports the outage; read today (and what we know)
    for stream in streams:
        first = _archive_start(settings, catalog, ledger, terminal, stream) or today
        start = max(window, min(first, today))
        days = [
            day
            for day in days_between(start, today)
            if day == today or not (state := states.get((stream, day))) or not state.settled
        ]
        if max_days is not None and len(days) > max_days:
            skipped = days[: len(days) - max_days]
            plan.notes.append(
                f"{stream}: {len(skipped)} older day{'s' if len(skipped) > 1 else ''} not read "
                f"(run: dogcli backfill {skipped[0]}..{skipped[-1]})"
            )
            days = days[-max_days:]
        plan.pages.extend((stream, day) for day in days)
    if ledger is None:
        return plan
    reading = set(plan.pages)
    try:
        for wanted in ledger.wanted(streams, since=window):
            state = states.get((wanted.stream, wanted.day))
            if wanted.want == FULL_SIZE:
                if state is None or not state.settled:
                    plan.retries.append(wanted)
            elif (wanted.stream, wanted.day) not in reading:
                plan.retries.append(wanted)
        older = [
            d
            for d in ledger.days(streams, until=window - timedelta(days=1))
            if overdue(d, zones, settings.settle_hours, now) is not None
        ]
    except CatalogUnavailable:
        return plan
    if older:
        names = ", ".join(sorted({f"{d.stream} {d.day}" for d in older})[:3])
        more = f" and {len(older) - 3} more" if len(older) > 3 else ""
        plan.notes.append(
            f"{len(older)} older day{'s are' if len(older) > 1 else ' is'} incomplete "
            f"({names}{more}): run dogcli backfill --gaps"
        )
    return plan


def _archive_start(
    settings: Settings, catalog: Catalog | None, ledger: Ledger | None, terminal: str, stream: str
) -> date | None:
    try:
        first = ledger.first_day(stream) if ledger is not None else None
        if first is None and catalog is not None:
            newest = catalog.newest_capture_time(terminal, stream)
            first = settings.zones.day_of(newest) if newest else None
    except CatalogUnavailable:
        return None
    return first


def range_plan(streams: Sequence[str], first: date, last: date) -> Plan:
    """backfill FIRST..LAST: every day of the range, for every stream."""
    return Plan([(stream, day) for day in days_between(first, last) for stream in streams])


def gaps_plan(settings: Settings, catalog: Catalog, terminal: str, streams: Sequence[str]) -> Plan:
    """backfill --gaps: exactly the days the gap report lists as incomplete."""
    pages = incomplete_days(settings, catalog, streams, terminal=terminal)
    s = "s" if len(pages) != 1 else ""
    return Plan(pages, notes=[f"{len(pages)} incomplete day{s} to read again"])

"""The ledger's rules and value types, with no SQL: what a day's state is, what a listed
capture is still wanted as, when a wanted capture is satisfied, which read settles a day,
when a day leaves the ledger, and how overdue an incomplete day is. ledger.py applies them
to the days and wanted tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dogcli.catalog.captures import as_utc
from dogcli.model.captures import THUMBNAIL, Zones

ANY = "any"  # listed, not stored
FULL_SIZE = "full"  # stored as a thumbnail; its full size may still appear


@dataclass(frozen=True)
class DayState:
    stream: str
    day: date
    listed: int | None
    stored: int
    full: int
    thumbnail: int
    missing: int
    bytes: int
    last_read: datetime | None
    settled_at: datetime | None

    @property
    def settled(self) -> bool:
        return self.settled_at is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "day": self.day.isoformat(),
            "listed": self.listed,
            "stored": self.stored,
            "thumbnail_only": self.thumbnail,
            "missing": self.missing,
            "settled": self.settled,
            "last_read": _iso(self.last_read),
        }


@dataclass(frozen=True)
class Wanted:
    stream: str
    url_ts: str
    day: date
    want: str
    url: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class DayRead:
    """What one complete read of a day's page found, and what became of it."""

    stream: str
    day: date
    listed: Mapping[str, str]  # url_ts -> the URL the page showed
    failures: Mapping[str, str]  # url_ts -> why its download failed
    read_at: datetime
    settles: bool  # read a settle time after the day ended


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value else None


def want_of(variant: str | None, settles: bool) -> str | None:
    """What a capture the page listed is still wanted as, given the variant stored of it
    (None: nothing): any variant when none is stored, its full size while only a thumbnail
    is stored and the day has not settled; None when nothing more is wanted."""
    if variant is None:
        return ANY
    if variant == THUMBNAIL and not settles:
        return FULL_SIZE
    return None


def satisfied(variant: str | None, want: str, settles: bool) -> bool:
    """Whether a wanted capture the read did not list is wanted no longer: it is stored, in
    full, or as a thumbnail when any variant was wanted or once the day settles."""
    return variant is not None and (variant != THUMBNAIL or settles or want == ANY)


def settles_day(read: DayRead | None, settled_at: datetime | None) -> bool:
    """Whether this read settles the day: the first complete read made a settle time after
    the day ended (a later one does not move the moment)."""
    return read is not None and read.settles and settled_at is None


def leaves_ledger(stored: int, missing: int, ever_read: bool) -> bool:
    """A day with nothing stored, nothing missing and no complete read has no ledger row."""
    return not stored and not missing and not ever_read


def settle_moment(zones: Zones, day: date, settle_hours: float) -> datetime:
    """When a day has settled: a settle time after it ended."""
    return zones.day_bounds(day)[1] + timedelta(hours=settle_hours)


def overdue(state: DayState, zones: Zones, settle_hours: float, now: datetime) -> float | None:
    """Hours since the day should have been complete, when it is not (captures missing, or
    never read completely once it had settled); None when it is complete or not due yet."""
    due = settle_moment(zones, state.day, settle_hours)
    if now < due or (state.settled and not state.missing):
        return None
    return (now - due).total_seconds() / 3600


def every_day(
    known: Iterable[DayState], streams: Sequence[str], since: date, until: date
) -> list[DayState]:
    """Every stream-day from `since` through `until`: the known state, or an empty one
    (never read, nothing stored) for a day the ledger does not know."""
    found = {(d.stream, d.day): d for d in known}
    out: list[DayState] = []
    for stream in streams:
        day = since
        while day <= until:
            out.append(found.get((stream, day)) or DayState(stream, day, None, 0, 0, 0, 0, 0,
                                                            None, None))  # fmt: skip
            day += timedelta(days=1)
    return out

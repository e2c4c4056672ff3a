"""The completeness ledger: per (terminal, stream, local day) what the page listed, what is
stored, what is still wanted, when the day was last read and whether it has settled.

Counts are never kept by hand: after every change to a day they are recounted from the
captures and wanted tables (a short index range), so the ledger cannot drift from them and
`rebuild` makes it again from the captures table alone. This module holds the queries; the
rules they apply (what is wanted, when a day settles or is overdue) are in days.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from dogcli.catalog.captures import Catalog, as_utc
from dogcli.catalog.days import (
    ANY,
    DayRead,
    DayState,
    Wanted,
    every_day,
    leaves_ledger,
    overdue,
    satisfied,
    settles_day,
    want_of,
)
from dogcli.catalog.models import CaptureRow, DayRow, WantedRow
from dogcli.config import Settings
from dogcli.model import clock
from dogcli.model.captures import THUMBNAIL, Zones


class Ledger:
    def __init__(self, catalog: Catalog, terminal: str, zones: Zones) -> None:
        self.catalog = catalog
        self.terminal = terminal
        self.zones = zones

    # -- reads -------------------------------------------------------------------------------

    def days(
        self,
        streams: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[DayState]:
        query = select(DayRow).where(DayRow.terminal == self.terminal)
        if streams:
            query = query.where(DayRow.stream.in_(list(streams)))
        if since is not None:
            query = query.where(DayRow.day >= since.isoformat())
        if until is not None:
            query = query.where(DayRow.day <= until.isoformat())
        query = query.order_by(DayRow.stream, DayRow.day)

        def run() -> list[DayState]:
            with self.catalog.engine.connect() as conn:
                return [_state(row) for row in conn.execute(query)]

        return self.catalog.retry(run)

    def first_day(self, stream: str) -> date | None:
        """The earliest day the archive knows of this stream (where its history begins)."""
        query = select(func.min(DayRow.day)).where(
            DayRow.terminal == self.terminal, DayRow.stream == stream
        )

        def run() -> date | None:
            with self.catalog.engine.connect() as conn:
                value = conn.execute(query).scalar()
                return date.fromisoformat(value) if value else None

        return self.catalog.retry(run)

    def wanted(self, streams: Sequence[str], since: date | None = None) -> list[Wanted]:
        query = select(WantedRow).where(
            WantedRow.terminal == self.terminal, WantedRow.stream.in_(list(streams))
        )
        if since is not None:
            query = query.where(WantedRow.day >= since.isoformat())
        query = query.order_by(WantedRow.stream, WantedRow.url_ts)

        def run() -> list[Wanted]:
            with self.catalog.engine.connect() as conn:
                return [_wanted(r) for r in conn.execute(query)]

        return self.catalog.retry(run)

    def hours(self, stream: str, day: date) -> tuple[list[datetime], list[datetime]]:
        """The capture times of a day: (stored, wanted but not stored), for the gap picture."""
        start, end = self.zones.day_bounds(day)
        stored_q = select(CaptureRow.captured_at).where(
            CaptureRow.terminal == self.terminal,
            CaptureRow.stream == stream,
            CaptureRow.captured_at >= start,
            CaptureRow.captured_at < end,
        )
        wanted_q = select(WantedRow.url_ts).where(
            WantedRow.terminal == self.terminal,
            WantedRow.stream == stream,
            WantedRow.day == day.isoformat(),
            WantedRow.want == ANY,
        )

        def run() -> tuple[list[datetime], list[datetime]]:
            with self.catalog.engine.connect() as conn:
                stored = [as_utc(v) for v in conn.execute(stored_q).scalars()]
                missing = [
                    self.zones.to_utc(datetime.fromisoformat(v))
                    for v in conn.execute(wanted_q).scalars()
                ]
                return stored, missing

        return self.catalog.retry(run)

    # -- writes ------------------------------------------------------------------------------

    def record(self, reads: Iterable[DayRead]) -> None:
        """A run's complete page reads: remember what is listed and not stored (with the
        download's error), what is stored only as a thumbnail while the day is unsettled,
        forget what is now stored, and recount each day."""
        for read in reads:

            def run(read: DayRead = read) -> None:
                with self.catalog.engine.begin() as conn:
                    self._record(conn, read)

            self.catalog.retry(run)

    def _record(self, conn: Connection, read: DayRead) -> None:
        start, end = self.zones.day_bounds(read.day)
        mine = (CaptureRow.terminal == self.terminal, CaptureRow.stream == read.stream)
        stored = dict(
            conn.execute(
                select(CaptureRow.url_ts, CaptureRow.variant).where(
                    *mine, CaptureRow.captured_at >= start, CaptureRow.captured_at < end
                )
            ).all()
        )
        # Listed captures whose local day is another one still belong to this read.
        others = [ts for ts in read.listed if ts not in stored]
        if others:
            stored.update(
                conn.execute(
                    select(CaptureRow.url_ts, CaptureRow.variant).where(
                        *mine, CaptureRow.url_ts.in_(others)
                    )
                ).all()
            )
        key = f"{read.day:%Y-%m-%d}"
        existing = {
            r.url_ts: r
            for r in conn.execute(
                select(WantedRow).where(
                    WantedRow.terminal == self.terminal,
                    WantedRow.stream == read.stream,
                    WantedRow.day == key,
                )
            )
        }
        for url_ts, url in read.listed.items():
            want = want_of(stored.get(url_ts), read.settles)
            if want is None:
                continue
            row = existing.pop(url_ts, None)
            error = read.failures.get(url_ts, "")
            if row is None:
                conn.execute(
                    insert(WantedRow).values(
                        terminal=self.terminal, stream=read.stream, url_ts=url_ts, day=key,
                        want=want, url=url, attempts=1 if error else 0, last_error=error,
                        first_seen=read.read_at, last_tried=read.read_at if error else None,
                    )
                )  # fmt: skip
            else:
                conn.execute(
                    update(WantedRow)
                    .where(WantedRow.id == row.id)
                    .values(
                        want=want,
                        url=url,
                        attempts=row.attempts + (1 if error else 0),
                        last_error=error or row.last_error,
                        last_tried=read.read_at if error else row.last_tried,
                    )
                )
        # What is wanted no longer: stored (in full, or as a thumbnail once the day settles).
        gone = [
            row.id
            for ts, row in existing.items()
            if satisfied(stored.get(ts), row.want, read.settles)
        ]
        if gone:
            conn.execute(delete(WantedRow).where(WantedRow.id.in_(gone)))
        self._recount(conn, read.stream, read.day, listed=len(read.listed), read=read)

    def attempted(self, results: Iterable[tuple[str, str, str]], at: datetime) -> None:
        """Retries of wanted captures, as (stream, url_ts, error; "" when stored now)."""
        touched: set[tuple[str, date]] = set()

        def run() -> None:
            with self.catalog.engine.begin() as conn:
                for stream, url_ts, error in results:
                    where = and_(
                        WantedRow.terminal == self.terminal,
                        WantedRow.stream == stream,
                        WantedRow.url_ts == url_ts,
                    )
                    row = conn.execute(select(WantedRow).where(where)).first()
                    if row is None:
                        continue
                    touched.add((stream, date.fromisoformat(row.day)))
                    if error:
                        conn.execute(
                            update(WantedRow)
                            .where(where)
                            .values(attempts=row.attempts + 1, last_error=error, last_tried=at)
                        )
                    else:
                        conn.execute(delete(WantedRow).where(where))
                for stream, day in touched:
                    self._recount(conn, stream, day)

        self.catalog.retry(run)

    def recount(self, items: Iterable[tuple[str, date]]) -> None:
        """Recount days after their captures changed (cleanup, verify --repair, a catalog
        replay); a day left with nothing, and never read, leaves the ledger."""

        def run() -> None:
            with self.catalog.engine.begin() as conn:
                for stream, day in sorted(set(items)):
                    self._recount(conn, stream, day)

        self.catalog.retry(run)

    def forget_before(self, day: date) -> None:
        """Retention: the ledger of days cleanup deleted goes with them."""

        def run() -> None:
            with self.catalog.engine.begin() as conn:
                for table in (DayRow, WantedRow):
                    conn.execute(
                        delete(table).where(
                            table.terminal == self.terminal, table.day < day.isoformat()
                        )
                    )

        self.catalog.retry(run)

    def rebuild(self) -> int:
        """Make the ledger again from the captures table (verify --repair): every local day
        that holds captures is recounted, days whose captures are all gone too. Returns the
        number of days recounted."""
        query = (
            select(CaptureRow.stream, CaptureRow.captured_at)
            .where(CaptureRow.terminal == self.terminal)
            .order_by(CaptureRow.stream, CaptureRow.captured_at)
        )
        known = select(DayRow.stream, DayRow.day).where(DayRow.terminal == self.terminal)

        def days() -> set[tuple[str, date]]:
            found: set[tuple[str, date]] = set()
            last: tuple[str, str] | None = None
            with self.catalog.engine.connect() as conn:
                for stream, at in conn.execute(query):
                    hour = (stream, f"{as_utc(at):%Y-%m-%dT%H}")
                    if hour != last:  # one zone conversion per hour, not per capture
                        found.add((stream, self.zones.day_of(as_utc(at))))
                        last = hour
                for stream, day in conn.execute(known):
                    found.add((stream, date.fromisoformat(day)))
            return found

        items = self.catalog.retry(days)
        self.recount(items)
        return len(items)

    def _recount(
        self,
        conn: Connection,
        stream: str,
        day: date,
        listed: int | None = None,
        read: DayRead | None = None,
    ) -> None:
        start, end = self.zones.day_bounds(day)
        key = day.isoformat()
        full, thumb, size = conn.execute(
            select(
                func.count().filter(CaptureRow.variant != THUMBNAIL),
                func.count().filter(CaptureRow.variant == THUMBNAIL),
                func.coalesce(func.sum(CaptureRow.bytes), 0),
            ).where(
                CaptureRow.terminal == self.terminal,
                CaptureRow.stream == stream,
                CaptureRow.captured_at >= start,
                CaptureRow.captured_at < end,
            )
        ).one()
        missing = conn.execute(
            select(func.count()).where(
                WantedRow.terminal == self.terminal,
                WantedRow.stream == stream,
                WantedRow.day == key,
                WantedRow.want == ANY,
            )
        ).scalar_one()
        where = and_(DayRow.terminal == self.terminal, DayRow.stream == stream, DayRow.day == key)
        row = conn.execute(select(DayRow).where(where)).first()
        values: dict[str, Any] = {
            "stored": int(full) + int(thumb),
            "full": int(full),
            "thumbnail": int(thumb),
            "bytes": int(size),
            "missing": int(missing),
        }
        if read is not None:
            values["listed"] = listed
            values["last_read"] = read.read_at
            if settles_day(read, None if row is None else row.settled_at):
                values["settled_at"] = read.read_at
        if row is None:
            if leaves_ledger(values["stored"], values["missing"], ever_read=read is not None):
                return
            conn.execute(
                insert(DayRow).values(terminal=self.terminal, stream=stream, day=key, **values)
            )
        elif leaves_ledger(values["stored"], values["missing"], row.last_read is not None):
            conn.execute(delete(DayRow).where(where))
        else:
            conn.execute(update(DayRow).where(where).values(**values))


def span(ledger: Ledger, streams: Sequence[str], since: date, until: date) -> list[DayState]:
    """Every stream-day from `since` through `until`: the ledger's state, or an empty one
    (never read, nothing stored) for a day it does not know."""
    return every_day(ledger.days(streams, since, until), streams, since, until)


def _state(row: Any) -> DayState:
    return DayState(
        stream=row.stream,
        day=date.fromisoformat(row.day),
        listed=row.listed,
        stored=row.stored,
        full=row.full,
        thumbnail=row.thumbnail,
        missing=row.missing,
        bytes=row.bytes,
        last_read=as_utc(row.last_read) if row.last_read else None,
        settled_at=as_utc(row.settled_at) if row.settled_at else None,
    )


def _wanted(r: Any) -> Wanted:
    day = date.fromisoformat(r.day)
    return Wanted(r.stream, r.url_ts, day, r.want, r.url, r.attempts, r.last_error)


def archive_days(
    settings: Settings,
    catalog: Catalog,
    streams: Sequence[str],
    since: date | None = None,
    now: datetime | None = None,
    terminal: str | None = None,
) -> list[DayState]:
    """Every stream-day of `terminal` (default: DOGCLI_TERMINAL) from `since` (default: the
    day the archive of these streams begins) through today."""
    ledger = Ledger(catalog, terminal or settings.terminal, settings.zones)
    today = settings.zones.day_of(now or clock.now())
    if since is None:
        firsts = [first for stream in streams if (first := ledger.first_day(stream))]
        since = min(firsts, default=today)
    return span(ledger, streams, since, today)


def incomplete_days(
    settings: Settings,
    catalog: Catalog,
    streams: Sequence[str],
    since: date | None = None,
    now: datetime | None = None,
    terminal: str | None = None,
) -> list[tuple[str, date]]:
    """The (stream, day)s the gap report lists as incomplete: past their settle time with
    captures missing, or never read completely since."""
    now = now or clock.now()
    return [
        (d.stream, d.day)
        for d in archive_days(settings, catalog, streams, since, now, terminal)
        if overdue(d, settings.zones, settings.settle_hours, now) is not None
    ]

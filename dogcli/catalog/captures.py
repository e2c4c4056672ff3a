"""The captures the catalog holds: what a day has, which keys are known, the newest capture,
batch inserts, path updates, the oldest ones for retention and their deletion, and the
per-stream figures stats shows. `Catalog` is the engine (engine.py) with these queries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, select, tuple_, update

from dogcli.catalog.engine import CatalogEngine
from dogcli.catalog.models import CaptureRow, DayRow
from dogcli.config import Settings
from dogcli.model.captures import STAMP_FORMAT
from dogcli.storage.base import StoredFile


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_db(value: datetime) -> datetime:
    return value.astimezone(UTC)


REPLACED_COLUMNS = ("variant", "path", "bytes", "sha256", "source_url", "downloaded_at")


@dataclass(frozen=True)
class CaptureRecord:
    """A cataloged capture as export reads it."""

    terminal: str
    stream: str
    captured_at: datetime  # UTC, aware
    variant: str
    path: str  # relative to the data dir
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Have:
    path: str
    bytes: int


class Catalog(CatalogEngine):
    """One catalog database and the queries on its captures. Every call retries transient
    errors, then raises CatalogUnavailable."""

    # -- reads -----------------------------------------------------------------------------

    def have_day(
        self, terminal: str, stream: str, start: datetime, end: datetime
    ) -> dict[str, Have]:
        """Cataloged captures taken in [start, end) (a local day's bounds), by URL stamp."""
        at = CaptureRow.captured_at
        query = select(CaptureRow.url_ts, CaptureRow.path, CaptureRow.bytes).where(
            CaptureRow.terminal == terminal,
            CaptureRow.stream == stream,
            at >= _to_db(start),
            at < _to_db(end),
        )

        def run() -> dict[str, Have]:
            with self.engine.connect() as conn:
                return {ts: Have(path, size) for ts, path, size in conn.execute(query)}

        return self.retry(run)

    def known(self, keys: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Which (terminal, stream, url_ts) keys are cataloged."""
        found: set[tuple[str, str, str]] = set()
        cols = (CaptureRow.terminal, CaptureRow.stream, CaptureRow.url_ts)
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            query = select(*cols).where(tuple_(*cols).in_(chunk))

            def run(query: Any = query) -> list[Any]:
                with self.engine.connect() as conn:
                    return list(conn.execute(query))

            found.update((t, s, ts) for t, s, ts in self.retry(run))
        return found

    def newest_capture_time(self, terminal: str, stream: str) -> datetime | None:
        """Capture time (UTC) of the stream's newest capture: one index probe."""
        query = select(func.max(CaptureRow.captured_at)).where(
            CaptureRow.terminal == terminal, CaptureRow.stream == stream
        )

        def run() -> datetime | None:
            with self.engine.connect() as conn:
                value = conn.execute(query).scalar()
                return as_utc(value) if value is not None else None

        return self.retry(run)

    def iter_captures(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        streams: Sequence[str] = (),
        batch_size: int = 5000,
    ) -> Iterator[list[CaptureRecord]]:
        """Every capture taken in [start, end), oldest first, in batches. Keyset pagination on
        (captured_at, id): each batch is one short indexed query (retried on its own), so
        memory stays one batch whatever the catalog holds and no transaction stays open
        while the caller writes."""
        at = CaptureRow.captured_at
        cols = (CaptureRow.id, CaptureRow.terminal, CaptureRow.stream, at, CaptureRow.variant,
                CaptureRow.path, CaptureRow.bytes, CaptureRow.sha256)  # fmt: skip
        base = select(*cols).order_by(at, CaptureRow.id).limit(batch_size)
        if start is not None:
            base = base.where(at >= _to_db(start))
        if end is not None:
            base = base.where(at < _to_db(end))
        if streams:
            base = base.where(CaptureRow.stream.in_(list(streams)))
        after: tuple[datetime, int] | None = None
        while True:
            query = base
            if after is not None:
                # Spelled out rather than a row value: both dialects use the index for it.
                query = query.where(
                    (at > after[0]) | ((at == after[0]) & (CaptureRow.id > after[1]))
                )

            def run(query: Any = query) -> list[Any]:
                with self.engine.connect() as conn:
                    return list(conn.execute(query))

            rows = self.retry(run)
            if not rows:
                return
            yield [
                CaptureRecord(str(t), str(s), as_utc(c), str(v), str(p), int(b), str(h))
                for _i, t, s, c, v, p, b, h in rows
            ]
            if len(rows) < batch_size:
                return
            after = (rows[-1][3], int(rows[-1][0]))

    def count_captures(self) -> int:
        def run() -> int:
            with self.engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(CaptureRow)).scalar_one())

        return self.retry(run)

    # -- writes ----------------------------------------------------------------------------

    def insert(
        self,
        records: Iterable[StoredFile],
        tz: ZoneInfo,
        batch_size: int = 200,
        replace: bool = False,
    ) -> int:
        """Insert-or-ignore on (terminal, stream, url_ts); returns rows offered. `tz` is the
        zone of the URL stamps (captured_at is the stamp read in it).

        replace=True updates the row of a capture whose file was downloaded again.
        """
        # Imported here: the dialect modules cost start-up to commands that never insert.
        insert: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        rows = [self._row(record, tz) for record in records]
        key = ["terminal", "stream", "url_ts"]
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            base = insert(CaptureRow)
            if replace:
                statement = base.on_conflict_do_update(
                    index_elements=key,
                    set_={c: base.excluded[c] for c in REPLACED_COLUMNS},
                )
            else:
                statement = base.on_conflict_do_nothing(index_elements=key)

            def run(statement: Any = statement, batch: list[dict[str, Any]] = batch) -> None:
                with self.engine.begin() as conn:
                    conn.execute(statement, batch)

            self.retry(run)
        return len(rows)

    @staticmethod
    def _row(record: StoredFile, tz: ZoneInfo) -> dict[str, Any]:
        ts = record.url_ts
        if len(ts) == 19 and ts[10] == "T" and ts[4] == "-":  # fromisoformat: 10x strptime
            stamp = datetime.fromisoformat(ts).replace(tzinfo=tz)
        else:
            stamp = datetime.strptime(ts, STAMP_FORMAT).replace(tzinfo=tz)
        return {
            "terminal": record.terminal,
            "stream": record.stream,
            "url_ts": record.url_ts,
            "captured_at": _to_db(stamp),
            "variant": record.variant,
            "path": record.path,
            "bytes": record.bytes,
            "sha256": record.sha256,
            "source_url": record.source_url,
            "downloaded_at": _to_db(datetime.fromisoformat(record.downloaded_at)),
        }

    def set_paths(self, terminal: str, items: Sequence[tuple[str, str, str]]) -> None:
        """Point rows, given as (stream, url_ts, path), at where their files now are."""
        statement = (
            update(CaptureRow)
            .where(
                CaptureRow.terminal == terminal,
                CaptureRow.stream == bindparam("s"),
                CaptureRow.url_ts == bindparam("t"),
            )
            .values(path=bindparam("p"))
        )
        for start in range(0, len(items), 500):
            chunk = [{"s": s, "t": t, "p": p} for s, t, p in items[start : start + 500]]

            def run(chunk: list[dict[str, str]] = chunk) -> None:
                with self.engine.begin() as conn:
                    conn.execute(statement, chunk)

            self.retry(run)

    def oldest_before(
        self, terminal: str, before: datetime, limit: int
    ) -> list[tuple[int, str, int]]:
        """(id, path, bytes) of the oldest captures taken before `before`, oldest first."""
        query = (
            select(CaptureRow.id, CaptureRow.path, CaptureRow.bytes)
            .where(CaptureRow.terminal == terminal, CaptureRow.captured_at < _to_db(before))
            .order_by(CaptureRow.captured_at, CaptureRow.id)
            .limit(limit)
        )

        def run() -> list[tuple[int, str, int]]:
            with self.engine.connect() as conn:
                return [(int(i), str(p), int(b)) for i, p, b in conn.execute(query)]

        return self.retry(run)

    def rows_since(
        self, terminal: str, since: datetime | None
    ) -> list[tuple[str, str, str, int, str]]:
        """(stream, url_ts, path, bytes, sha256) of every capture taken from `since` on (all
        of them without): what verify compares with the disk."""
        cols = (CaptureRow.stream, CaptureRow.url_ts, CaptureRow.path, CaptureRow.bytes,
                CaptureRow.sha256)  # fmt: skip
        query = select(*cols).where(CaptureRow.terminal == terminal)
        if since is not None:
            query = query.where(CaptureRow.captured_at >= _to_db(since))

        def run() -> list[tuple[str, str, str, int, str]]:
            with self.engine.connect() as conn:
                return [(str(s), str(u), str(p), int(b), str(h)) for s, u, p, b, h in
                        conn.execute(query)]  # fmt: skip

        return self.retry(run)

    def count_before(self, terminal: str, before: datetime) -> tuple[int, int]:
        """(captures, bytes) taken before `before`."""
        query = select(func.count(), func.coalesce(func.sum(CaptureRow.bytes), 0)).where(
            CaptureRow.terminal == terminal, CaptureRow.captured_at < _to_db(before)
        )

        def run() -> tuple[int, int]:
            with self.engine.connect() as conn:
                count, size = conn.execute(query).one()
                return int(count), int(size)

        return self.retry(run)

    def delete_ids(self, ids: Sequence[int]) -> int:
        deleted = 0
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])

            def run(chunk: list[int] = chunk) -> int:
                with self.engine.begin() as conn:
                    return conn.execute(delete(CaptureRow).where(CaptureRow.id.in_(chunk))).rowcount

            deleted += self.retry(run)
        return deleted

    # -- reports ---------------------------------------------------------------------------

    def stream_stats(
        self, terminal: str, streams: Sequence[str] | None, now: datetime, day_start: datetime
    ) -> dict[str, dict[str, Any]]:
        """Per stream: count, bytes, first, last, last hour, last 24 h, since day_start.

        The totals are the ledger's (one row per day); first and last are index seeks and
        the recent counts short index ranges: nothing reads every capture."""
        hour_ago = _to_db(now - timedelta(hours=1))
        day_ago = _to_db(now - timedelta(hours=24))
        start = _to_db(day_start)
        at = CaptureRow.captured_at
        # The ledger's day rows, not the captures: a few thousand rows for years of archive.
        totals = (
            select(
                DayRow.stream,
                func.coalesce(func.sum(DayRow.stored), 0),
                func.coalesce(func.sum(DayRow.bytes), 0),
            )
            .where(DayRow.terminal == terminal)
            .group_by(DayRow.stream)
        )
        if streams:
            totals = totals.where(DayRow.stream.in_(list(streams)))

        def details(stream: str) -> Any:
            mine = (CaptureRow.terminal == terminal, CaptureRow.stream == stream)

            def since(moment: datetime) -> Any:
                return select(func.count()).where(*mine, at >= moment).scalar_subquery()

            return select(
                select(at).where(*mine).order_by(at).limit(1).scalar_subquery(),
                select(at).where(*mine).order_by(at.desc()).limit(1).scalar_subquery(),
                since(hour_ago),
                since(day_ago),
                since(start),
            )

        def run() -> dict[str, dict[str, Any]]:
            with self.engine.connect() as conn:
                result: dict[str, dict[str, Any]] = {}
                for stream, count, size in conn.execute(totals).all():
                    first, last, hour, day, today = conn.execute(details(stream)).one()
                    result[stream] = {
                        "count": int(count),
                        "bytes": int(size),
                        "first": as_utc(first) if first else None,
                        "last": as_utc(last) if last else None,
                        "last_hour": int(hour),
                        "last_24h": int(day),
                        "today": int(today),
                    }
                return result

        return self.retry(run)


def catalog_for(settings: Settings, max_retries: int | None = None) -> Catalog:
    """The catalog the settings name (not yet migrated)."""
    return Catalog.for_settings(settings, max_retries)


def open_catalog(settings: Settings) -> tuple[Catalog | None, str]:
    """A migrated catalog, or (None, why) when it cannot be reached: callers carry on without."""
    return Catalog.open(settings)

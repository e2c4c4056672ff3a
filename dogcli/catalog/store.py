"""Catalog queries: what we have, batch inserts, newest capture, deletion."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from dogcli.captures import SITE_TS_FORMAT
from dogcli.catalog import db
from dogcli.catalog.models import CaptureRow
from dogcli.errors import CatalogUnavailable
from dogcli.retry import BackoffWait
from dogcli.storage import StoredFile

log = logging.getLogger(__name__)
T = TypeVar("T")


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_db(value: datetime) -> datetime:
    return value.astimezone(UTC)


REPLACED_COLUMNS = ("variant", "path", "bytes", "sha256", "source_url", "downloaded_at")


@dataclass(frozen=True)
class Have:
    path: str
    bytes: int


class Catalog:
    """One catalog database. Every call retries transient errors, then raises CatalogUnavailable."""

    def __init__(self, url: str, max_retries: int = 3, retry_base: float = 1.0) -> None:
        self.url = url
        self.engine: Engine = db.make_engine(url)
        self.max_retries = max_retries
        self.retry_base = retry_base

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retry(self, operation: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=BackoffWait(self.retry_base),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            return retrying(operation)
        except (OperationalError, DBAPIError) as exc:
            raise CatalogUnavailable(db.describe_error(exc, self.url)) from None

    def upgrade(self) -> bool:
        return self.retry(lambda: db.upgrade(self.engine))

    def schema_status(self) -> tuple[str | None, str | None]:
        """(current, head) revisions."""
        return self.retry(lambda: (db.current_revision(self.engine), db.head_revision(self.engine)))

    # -- reads -----------------------------------------------------------------------------

    def have_day(self, terminal: str, stream: str, day: date) -> dict[str, Have]:
        """Cataloged captures of one site-local day, by site timestamp."""
        lo, hi = f"{day:%Y-%m-%d}T00:00:00", f"{day:%Y-%m-%d}T23:59:59"
        query = select(CaptureRow.site_ts, CaptureRow.path, CaptureRow.bytes).where(
            CaptureRow.terminal == terminal,
            CaptureRow.stream == stream,
            CaptureRow.site_ts.between(lo, hi),
        )

        def run() -> dict[str, Have]:
            with self.engine.connect() as conn:
                return {ts: Have(path, size) for ts, path, size in conn.execute(query)}

        return self.retry(run)

    def known(self, keys: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Which (terminal, stream, site_ts) keys are cataloged."""
        found: set[tuple[str, str, str]] = set()
        cols = (CaptureRow.terminal, CaptureRow.stream, CaptureRow.site_ts)
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            query = select(*cols).where(tuple_(*cols).in_(chunk))

            def run(query: Any = query) -> list[Any]:
                with self.engine.connect() as conn:
                    return list(conn.execute(query))

            found.update((t, s, ts) for t, s, ts in self.retry(run))
        return found

    def newest_site_ts(self, terminal: str, stream: str) -> str | None:
        query = select(func.max(CaptureRow.site_ts)).where(
            CaptureRow.terminal == terminal, CaptureRow.stream == stream
        )

        def run() -> str | None:
            with self.engine.connect() as conn:
                return conn.execute(query).scalar()

        return self.retry(run)

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

    # -- writes ----------------------------------------------------------------------------

    def insert(
        self,
        records: Iterable[StoredFile],
        tz: ZoneInfo,
        batch_size: int = 200,
        replace: bool = False,
    ) -> int:
        """Insert-or-ignore on (terminal, stream, site_ts); returns rows offered.

        replace=True updates the row of a capture whose file was downloaded again.
        """
        rows = [self._row(record, tz) for record in records]
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        key = ["terminal", "stream", "site_ts"]
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
        local = datetime.strptime(record.site_ts, SITE_TS_FORMAT).replace(tzinfo=tz)
        return {
            "terminal": record.terminal,
            "stream": record.stream,
            "site_ts": record.site_ts,
            "captured_at": _to_db(local),
            "variant": record.variant,
            "path": record.path,
            "bytes": record.bytes,
            "sha256": record.sha256,
            "source_url": record.source_url,
            "downloaded_at": _to_db(datetime.fromisoformat(record.downloaded_at)),
        }

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
        """Per stream: count, bytes, first, last, last hour, last 24 h, since day_start."""
        hour_ago = _to_db(now - timedelta(hours=1))
        day_ago = _to_db(now - timedelta(hours=24))
        start = _to_db(day_start)
        at = CaptureRow.captured_at
        query = (
            select(
                CaptureRow.stream,
                func.count(),
                func.coalesce(func.sum(CaptureRow.bytes), 0),
                func.min(at),
                func.max(at),
                func.count().filter(at >= hour_ago),
                func.count().filter(at >= day_ago),
                func.count().filter(at >= start),
            )
            .where(CaptureRow.terminal == terminal)
            .group_by(CaptureRow.stream)
        )
        if streams:
            query = query.where(CaptureRow.stream.in_(list(streams)))

        def run() -> dict[str, dict[str, Any]]:
            with self.engine.connect() as conn:
                result: dict[str, dict[str, Any]] = {}
                for stream, count, size, first, last, hour, day, today in conn.execute(query):
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


def open_catalog(url: str, max_retries: int, retry_base: float) -> tuple[Catalog | None, str]:
    """A migrated catalog, or (None, why) when it cannot be reached: callers carry on without."""
    catalog = Catalog(url, max_retries, retry_base)
    try:
        catalog.upgrade()
    except CatalogUnavailable as exc:
        catalog.close()
        return None, str(exc)
    return catalog, ""

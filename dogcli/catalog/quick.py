"""What `dogcli stats` reads, through the database's own driver instead of SQLAlchemy.

Start-up is most of a stats command's time, and importing SQLAlchemy alone costs more than
the queries (they read the ledger's day rows and a few index seeks). So stats asks here
first; whenever this cannot answer for sure (an unusual URL, a schema not at the newest
revision, any database error) it returns None and stats takes the ordinary way, which
also migrates. tests/catalog/test_quick_stats.py holds both ways to the same answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dogcli.catalog.location import catalog_file
from dogcli.catalog.revisions import scripted_head
from dogcli.catalog.runrecord import Run, run_from_row
from dogcli.config import Settings

RUN_COLUMNS = ("id, command, streams, host, pid, started_at, finished_at, outcome, found, new, "
               "failed, deleted, bytes, error")  # fmt: skip


@dataclass
class StatsRows:
    totals: dict[str, dict[str, Any]]  # as Catalog.stream_stats
    listed: dict[str, int | None]  # today's ledger row: what the page listed
    last_runs: dict[str, Run]


def read_stats(
    settings: Settings,
    streams: Sequence[str],
    now: datetime,
    day_start: datetime,
    today: date,
    commands: Sequence[str],
    terminal: str | None = None,
) -> StatsRows | None:
    """The stats rows of `terminal` (default: DOGCLI_TERMINAL), or None when the ordinary
    way must answer."""
    try:
        with _connect(settings) as db:
            if db is None:
                return None
            t = terminal or settings.terminal
            return _read(db, t, streams, now, day_start, today, commands)
    except Exception:  # any driver's error: the ordinary way reports it properly
        return None


class _Db:
    def __init__(self, conn: Any, sqlite: bool) -> None:
        self.conn = conn
        self.sqlite = sqlite

    def rows(self, sql: str, *params: Any) -> list[Any]:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def moment(self, value: datetime) -> Any:
        """A UTC instant as the catalog stores it: SQLite keeps SQLAlchemy's text form."""
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else utc

    def instant(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextlib.contextmanager
def _connect(settings: Settings) -> Iterator[_Db | None]:
    url = settings.database_url
    path = catalog_file(settings)
    if path is None and url.startswith("sqlite"):
        yield None
        return
    if path is not None:
        import sqlite3

        if not path.is_file():
            yield None
            return
        conn: Any = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        sqlite = True
    elif url.split("://", 1)[0] in ("postgresql", "postgresql+psycopg", "postgres"):
        import psycopg

        conninfo = "postgresql://" + url.split("://", 1)[1]
        conn = psycopg.connect(conninfo, connect_timeout=10, autocommit=True)
        sqlite = False
    else:
        yield None
        return
    try:
        db = _Db(conn, sqlite)
        version = db.rows("SELECT version_num FROM alembic_version")
        head = scripted_head()
        yield db if head is not None and version == [(head,)] else None
    finally:
        conn.close()


def _read(
    db: _Db,
    terminal: str,
    streams: Sequence[str],
    now: datetime,
    day_start: datetime,
    today: date,
    commands: Sequence[str],
) -> StatsRows:
    marks = ", ".join("?" for _ in streams)
    mine = "FROM captures WHERE terminal = ? AND stream = ?"
    totals: dict[str, dict[str, Any]] = {}
    for stream, count, size in db.rows(
        f"SELECT stream, COALESCE(SUM(stored), 0), COALESCE(SUM(bytes), 0) FROM days "
        f"WHERE terminal = ? AND stream IN ({marks}) GROUP BY stream",
        terminal, *streams,
    ):  # fmt: skip
        first = db.rows(f"SELECT captured_at {mine} ORDER BY captured_at LIMIT 1", terminal,
                        stream)  # fmt: skip
        last = db.rows(f"SELECT captured_at {mine} ORDER BY captured_at DESC LIMIT 1", terminal,
                       stream)  # fmt: skip

        def since(moment: datetime, stream: str = stream) -> int:
            found = db.rows(f"SELECT COUNT(*) {mine} AND captured_at >= ?", terminal, stream,
                            db.moment(moment))  # fmt: skip
            return int(found[0][0])

        totals[stream] = {
            "count": int(count),
            "bytes": int(size),
            "first": db.instant(first[0][0]) if first else None,
            "last": db.instant(last[0][0]) if last else None,
            "last_hour": since(now - timedelta(hours=1)),
            "last_24h": since(now - timedelta(hours=24)),
            "today": since(day_start),
        }
    listed = dict(
        db.rows(
            f"SELECT stream, listed FROM days WHERE terminal = ? AND day = ? "
            f"AND stream IN ({marks})",
            terminal, today.isoformat(), *streams,
        )
    )  # fmt: skip
    last_runs: dict[str, Run] = {}
    for command in commands:
        found = db.rows(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE command = ? AND outcome != 'running' "
            "ORDER BY started_at DESC, id DESC LIMIT 1",
            command,
        )
        if found:
            last_runs[command] = run_from_row(_Row(RUN_COLUMNS, found[0]))
    return StatsRows(totals, listed, last_runs)


class _Row:
    """Attribute access to a driver's tuple, by the selected column names."""

    def __init__(self, columns: str, values: Sequence[Any]) -> None:
        for name, value in zip((c.strip() for c in columns.split(",")), values, strict=True):
            setattr(self, name, value)

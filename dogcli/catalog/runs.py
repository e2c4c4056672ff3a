"""The run journal: what each fetch, backfill and cleanup did, and when; and the entries a
dead process left "running", marked interrupted by the next run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from dogcli.catalog.captures import Catalog, as_utc
from dogcli.catalog.models import RunRow
from dogcli.catalog.runrecord import Run as Run
from dogcli.catalog.runrecord import run_from_row
from dogcli.model import clock
from dogcli.model.redact import redact_url

INTERRUPTED_ERROR = "the process ended before the run was journaled"
# A run of another host sharing the catalog may be live; none runs for a day.
FOREIGN_RUN_HOURS = 24


def _values(run: Run) -> dict[str, Any]:
    return {
        "command": run.command,
        "streams": ",".join(run.streams),
        "host": run.host[:255],
        "pid": run.pid,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": run.outcome,
        "found": run.found,
        "new": run.new,
        "failed": run.failed,
        "deleted": run.deleted,
        "bytes": run.bytes,
        # A run's error line may quote a database URL.
        "error": redact_url(run.error)[:2000],
    }


class RunJournal:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def start(self, run: Run) -> Run:
        def go() -> int:
            with self.catalog.engine.begin() as conn:
                result = conn.execute(insert(RunRow).values(**_values(run)))
                key = result.inserted_primary_key
                return int(key[0]) if key else 0

        run.id = self.catalog.retry(go)
        return run

    def finish(self, run: Run) -> None:
        run.finished_at = run.finished_at or clock.now()
        values = _values(run)
        if run.id is None:
            self.start(run)
            return

        def go() -> None:
            with self.catalog.engine.begin() as conn:
                conn.execute(update(RunRow).where(RunRow.id == run.id).values(**values))

        self.catalog.retry(go)

    def mark_interrupted(self, run: Run) -> int:
        """Entries still "running" that no live process will finish, marked interrupted: every
        one of run's host (the caller holds the archive lock, so no other run of it is live
        here), and another host's once it started FOREIGN_RUN_HOURS ago. Returns how many.
        finished_at stays empty: when the process ended is not known."""
        cutoff = (run.started_at - timedelta(hours=FOREIGN_RUN_HOURS)).astimezone(UTC)
        stale = or_(RunRow.host == run.host[:255], RunRow.started_at < cutoff)
        where = and_(RunRow.outcome == "running", stale)
        if run.id is not None:
            where = and_(where, RunRow.id != run.id)
        query = update(RunRow).where(where).values(outcome="interrupted", error=INTERRUPTED_ERROR)

        def go() -> int:
            with self.catalog.engine.begin() as conn:
                return int(conn.execute(query).rowcount or 0)

        return self.catalog.retry(go)

    def recent(self, limit: int = 20, command: str | None = None) -> list[Run]:
        query = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit)
        if command:
            query = query.where(RunRow.command == command)

        def go() -> list[Run]:
            with self.catalog.engine.connect() as conn:
                return [run_from_row(row) for row in conn.execute(query)]

        return self.catalog.retry(go)

    def last_by_command(self, commands: Sequence[str]) -> dict[str, Run]:
        """The newest finished (or skipped) run of each command."""
        out: dict[str, Run] = {}
        for command in commands:
            query = (
                select(RunRow)
                .where(RunRow.command == command, RunRow.outcome != "running")
                .order_by(RunRow.started_at.desc(), RunRow.id.desc())
                .limit(1)
            )

            def go(query: Any = query) -> list[Run]:
                with self.catalog.engine.connect() as conn:
                    return [run_from_row(row) for row in conn.execute(query)]

            found = self.catalog.retry(go)
            if found:
                out[command] = found[0]
        return out

    def last_success(self, command: str, stream: str | None = None) -> datetime | None:
        """When the newest ok (or partial) run of `command` covering `stream` finished."""
        query = (
            select(RunRow.finished_at, RunRow.streams)
            .where(RunRow.command == command, RunRow.outcome.in_(("ok", "partial")))
            .order_by(RunRow.finished_at.desc())
            .limit(200)
        )

        def go() -> datetime | None:
            with self.catalog.engine.connect() as conn:
                for finished, streams in conn.execute(query):
                    if finished and (stream is None or stream in streams.split(",")):
                        return as_utc(finished)
            return None

        return self.catalog.retry(go)

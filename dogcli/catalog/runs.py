"""The run journal: what each fetch, backfill and cleanup did, and when."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from dogcli import clock
from dogcli.catalog.models import RunRow
from dogcli.catalog.store import Catalog, as_utc
from dogcli.redact import redact_url

OUTCOMES = ("running", "ok", "partial", "failed", "skipped")


@dataclass
class Run:
    command: str
    streams: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: clock.now())
    finished_at: datetime | None = None
    outcome: str = "running"
    found: int = 0
    new: int = 0
    failed: int = 0
    deleted: int = 0
    bytes: int = 0
    error: str = ""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    id: int | None = None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat().replace("+00:00", "Z") if value else None
        data["seconds"] = None if self.seconds is None else round(self.seconds, 3)
        return data


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


def _from_row(row: Any) -> Run:
    return Run(
        id=row.id,
        command=row.command,
        streams=[s for s in row.streams.split(",") if s],
        host=row.host,
        pid=row.pid,
        started_at=as_utc(row.started_at),
        finished_at=as_utc(row.finished_at) if row.finished_at else None,
        outcome=row.outcome,
        found=row.found,
        new=row.new,
        failed=row.failed,
        deleted=row.deleted,
        bytes=row.bytes,
        error=row.error,
    )


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

    def recent(self, limit: int = 20, command: str | None = None) -> list[Run]:
        query = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit)
        if command:
            query = query.where(RunRow.command == command)

        def go() -> list[Run]:
            with self.catalog.engine.connect() as conn:
                return [_from_row(row) for row in conn.execute(query)]

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
                    return [_from_row(row) for row in conn.execute(query)]

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

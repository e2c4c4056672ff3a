"""One entry of the run journal, as every command and report sees it (no SQLAlchemy here:
`dogcli stats` reads the journal through the database's own driver)."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dogcli.model import clock

RECORDED = ("fetch", "backfill", "cleanup")  # the commands the journal records
# "interrupted": left "running" by a process that died (marked so by the next run).
OUTCOMES = ("running", "ok", "partial", "failed", "skipped", "interrupted")


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


def run_from_row(row: Any) -> Run:
    """A Run from a database row of the runs table (any driver: SQLite hands back text)."""
    return Run(
        id=row.id,
        command=row.command,
        streams=[s for s in row.streams.split(",") if s],
        host=row.host,
        pid=row.pid,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at) if row.finished_at else None,
        outcome=row.outcome,
        found=row.found,
        new=row.new,
        failed=row.failed,
        deleted=row.deleted,
        bytes=row.bytes,
        error=row.error,
    )


def _utc(value: datetime | str) -> datetime:
    # SQLite hands back naive datetimes, or text through its own driver; they are UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

"""dogcli stats: per-stream counts, sizes, recency and today's coverage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

from dogcli import clock
from dogcli.catalog.store import Catalog
from dogcli.settings import Settings

CADENCE_MINUTES = 10


def collect_stats(
    settings: Settings,
    catalog: Catalog | None,
    streams: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """A JSON-ready report; every configured (or requested) stream appears, even if empty.
    No catalog (no archive yet): every stream empty, no last runs."""
    from dogcli.catalog.runs import RunJournal
    from dogcli.reports.metrics import COMMANDS

    now = (now or clock.now()).astimezone(UTC)
    local_now = now.astimezone(settings.tz)
    midnight = datetime.combine(local_now.date(), time(0), tzinfo=settings.tz)
    chosen = list(streams) or list(settings.streams)
    rows = catalog.stream_stats(settings.terminal, chosen, now, midnight) if catalog else {}
    elapsed = (local_now - midnight).total_seconds() / 60
    expected = max(1, int(elapsed // CADENCE_MINUTES))
    report: dict[str, Any] = {}
    for stream in sorted(set(chosen) | set(rows)):
        row = rows.get(stream) or {
            "count": 0, "bytes": 0, "first": None, "last": None,
            "last_hour": 0, "last_24h": 0, "today": 0,
        }  # fmt: skip
        report[stream] = {
            "count": row["count"],
            "bytes": row["bytes"],
            "first": _iso(row["first"]),
            "last": _iso(row["last"]),
            "last_hour": row["last_hour"],
            "last_24h": row["last_24h"],
            "today": row["today"],
            "today_expected": expected,
            "today_coverage": round(row["today"] / expected, 4),
        }
    return {
        "terminal": settings.terminal,
        "generated_at": _iso(now),
        "timezone": settings.timezone,
        "streams": report,
        "last_runs": {
            command: run.as_json()
            for command, run in (
                RunJournal(catalog).last_by_command(COMMANDS).items() if catalog else ()
            )
        },
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None

"""dogcli stats: per-stream counts, sizes, recency and today's coverage.

Totals come from the ledger (a row per day), so their cost does not grow with the number of
captures; first, last and the recent counts are index seeks and short index ranges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dogcli import clock
from dogcli.archive import Archive
from dogcli.catalog.ledger import Ledger
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
    from dogcli.metrics import COMMANDS

    now = (now or clock.now()).astimezone(UTC)
    today = settings.zones.day_of(now)
    midnight = settings.zones.day_bounds(today)[0]  # UTC: a DST morning's hours are real
    chosen = list(streams) or list(settings.streams)
    rows = catalog.stream_stats(settings.terminal, chosen, now, midnight) if catalog else {}
    listed: dict[str, int | None] = {}
    if catalog is not None:
        ledger = Ledger(catalog, settings.terminal, settings.zones)
        listed = {d.stream: d.listed for d in ledger.days(chosen, today, today)}
    elapsed = (now - midnight).total_seconds() / 60
    cadence = max(1, int(elapsed // CADENCE_MINUTES))
    report: dict[str, Any] = {}
    for stream in sorted(set(chosen) | set(rows)):
        row = rows.get(stream) or {
            "count": 0, "bytes": 0, "first": None, "last": None,
            "last_hour": 0, "last_24h": 0, "today": 0,
        }  # fmt: skip
        # Expected today: what the page listed when last read, else the 10-minute cadence.
        expected = listed.get(stream) or cadence
        report[stream] = {
            "count": row["count"],
            "bytes": row["bytes"],
            "first": _iso(row["first"]),
            "last": _iso(row["last"]),
            "last_hour": row["last_hour"],
            "last_24h": row["last_24h"],
            "today": row["today"],
            "today_expected": expected,
            "today_coverage": round(row["today"] / max(1, expected), 4),
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


def stats_report(settings: Settings, streams: Sequence[str] = ()) -> dict[str, Any]:
    """collect_stats on the archive the settings name, without creating it."""
    with Archive(settings) as archive:
        return collect_stats(settings, archive.existing_catalog(), streams)

"""dogcli stats: per-stream counts, sizes, recency and today's coverage.

Totals come from the ledger (a row per day), so their cost does not grow with the number of
captures; first, last and the recent counts are index seeks and short index ranges. The
command reads them through the database's own driver when it can (catalog/quick.py):
importing SQLAlchemy would cost more than the queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dogcli.catalog.quick import StatsRows, read_stats
from dogcli.catalog.runrecord import RECORDED
from dogcli.config import Settings
from dogcli.model import clock

if TYPE_CHECKING:
    from dogcli.catalog.captures import Catalog

CADENCE_MINUTES = 10


def stats_report(settings: Settings, streams: Sequence[str] = ()) -> dict[str, Any]:
    """The report of the archive the settings name, without creating it. With several
    terminals (DOGCLI_CAMERAS) it is `{"terminals": {T: report of T}}` and the parts every
    terminal shares (generated_at, timezone, last_runs) also at the top."""
    scope = settings.scope(streams)
    if not scope.several:
        ((terminal, chosen),) = scope.by_terminal()
        return _terminal_report(settings, terminal, chosen)
    reports = {t: _terminal_report(settings, t, chosen) for t, chosen in scope.by_terminal()}
    first = next(iter(reports.values()))
    return {
        "generated_at": first["generated_at"],
        "timezone": first["timezone"],
        "terminals": reports,
        "last_runs": first["last_runs"],
    }


def _terminal_report(
    settings: Settings, terminal: str, streams: Sequence[str] = ()
) -> dict[str, Any]:
    now = clock.now()
    chosen = list(streams) or list(settings.streams)
    today = settings.zones.day_of(now)
    midnight = settings.zones.day_bounds(today)[0]
    rows = read_stats(settings, chosen, now, midnight, today, RECORDED, terminal)
    if rows is not None:
        return build_report(settings, chosen, now, rows, terminal)
    from dogcli.archive.session import Archive

    with Archive.open(settings) as session:
        return collect_stats(settings, session.existing_catalog(), chosen, now, terminal)


def collect_stats(
    settings: Settings,
    catalog: Catalog | None,
    streams: Sequence[str] = (),
    now: datetime | None = None,
    terminal: str | None = None,
) -> dict[str, Any]:
    """The report through SQLAlchemy; every configured (or requested) stream appears, even
    if empty. No catalog (no archive yet): every stream empty, no last runs."""
    from dogcli.catalog.ledger import Ledger
    from dogcli.catalog.runs import RunJournal

    now = (now or clock.now()).astimezone(UTC)
    today = settings.zones.day_of(now)
    midnight = settings.zones.day_bounds(today)[0]  # UTC: a DST morning's hours are real
    chosen = list(streams) or list(settings.streams)
    rows = StatsRows({}, {}, {})
    terminal = terminal or settings.terminal
    if catalog is not None:
        ledger = Ledger(catalog, terminal, settings.zones)
        rows = StatsRows(
            catalog.stream_stats(terminal, chosen, now, midnight),
            {d.stream: d.listed for d in ledger.days(chosen, today, today)},
            RunJournal(catalog).last_by_command(RECORDED),
        )
    return build_report(settings, chosen, now, rows, terminal)


def build_report(
    settings: Settings,
    streams: Sequence[str],
    now: datetime,
    rows: StatsRows,
    terminal: str | None = None,
) -> dict[str, Any]:
    now = now.astimezone(UTC)
    midnight = settings.zones.day_bounds(settings.zones.day_of(now))[0]
    elapsed = (now - midnight).total_seconds() / 60
    cadence = max(1, int(elapsed // CADENCE_MINUTES))
    report: dict[str, Any] = {}
    for stream in sorted(set(streams) | set(rows.totals)):
        row = rows.totals.get(stream) or {
            "count": 0, "bytes": 0, "first": None, "last": None,
            "last_hour": 0, "last_24h": 0, "today": 0,
        }  # fmt: skip
        # Expected today: what the page listed when last read, else the 10-minute cadence.
        expected = rows.listed.get(stream) or cadence
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
        "terminal": terminal or settings.terminal,
        "generated_at": _iso(now),
        "timezone": settings.timezone,
        "streams": report,
        "last_runs": {command: run.as_json() for command, run in rows.last_runs.items()},
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None

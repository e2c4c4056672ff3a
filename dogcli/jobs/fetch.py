"""fetch and backfill: which pages of which cameras to read (plan), then the collect job, in a
run that is locked, journaled, alerting and with metrics (as the CLI and the timer run it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from dogcli.archive.session import Archive, Session
from dogcli.catalog.captures import Catalog
from dogcli.config import Settings
from dogcli.jobs.collect import Planner, collect
from dogcli.jobs.plan import Plan, fetch_plan, gaps_plan, range_plan, site_today
from dogcli.jobs.summary import Reporter, Summary
from dogcli.model.days import parse_range
from dogcli.model.errors import CatalogUnavailable, UsageError
from dogcli.sources.site.executables import browser_paths


def fetch_planner(settings: Settings, max_days: int | None, now: datetime | None) -> Planner:
    """What is recent (fetch_plan) of each terminal."""
    if max_days is not None and max_days < 1:
        raise UsageError("--max-days must be at least 1")

    def plan(catalog: Catalog | None, terminal: str, streams: tuple[str, ...]) -> Plan:
        return fetch_plan(settings, catalog, streams, max_days, now, terminal=terminal)

    return plan


def backfill_planner(
    settings: Settings, session: Session, first: date | None, last: date | None, gaps: bool
) -> Planner:
    """The days first..last again, or with `gaps` exactly the days the gap report lists."""

    def plan(catalog: Catalog | None, terminal: str, streams: tuple[str, ...]) -> Plan:
        if gaps:
            if catalog is None:
                raise CatalogUnavailable(session.outage or "catalog unavailable")
            return gaps_plan(settings, catalog, terminal, streams)
        assert first is not None and last is not None
        return range_plan(streams, first, last)

    return plan


def _recorded(
    settings: Settings,
    command: str,
    streams: Sequence[str],
    wait: float,
    metrics_file: Path | None,
    reporter: Reporter | None,
    planner: Callable[[Session], Planner],
) -> Summary:
    """A collect job run locked, journaled, alerting, with metrics. The journal gets the
    counts of what the job did even when it is interrupted."""
    scope = settings.scope(streams)
    browser_paths(settings)  # a missing browser is a usage error, found before any work
    summary = Summary()
    with Archive.open(settings) as session:
        plan = planner(session)
        with session.run(command, scope.labels(), wait, metrics_file) as ctx:
            try:
                collect(session, scope, plan, reporter, summary, ctx.before_write)
            finally:
                summary.record_counts(ctx.run)
            summary.record(ctx.run)
    return summary


def fetch_command(
    settings: Settings,
    streams: Sequence[str] = (),
    max_days: int | None = None,
    reporter: Reporter | None = None,
    wait: float = 0.0,
    metrics_file: Path | None = None,
    now: datetime | None = None,
) -> Summary:
    planner = fetch_planner(settings, max_days, now)
    return _recorded(settings, "fetch", streams, wait, metrics_file, reporter,
                     lambda _session: planner)  # fmt: skip


def backfill_command(
    settings: Settings,
    first: date | None,
    last: date | None,
    streams: Sequence[str] = (),
    reporter: Reporter | None = None,
    wait: float = 0.0,
    metrics_file: Path | None = None,
    gaps: bool = False,
) -> Summary:
    def planner(session: Session) -> Planner:
        return backfill_planner(settings, session, first, last, gaps)

    return _recorded(settings, "backfill", streams, wait, metrics_file, reporter, planner)


def run_backfill(
    settings: Settings, first: date, last: date, streams: Sequence[str] = ()
) -> Summary:
    """A backfill without the run's lock and journal (a library call, as in a script)."""
    scope = settings.scope(streams)
    with Archive.open(settings) as session:
        planner = backfill_planner(settings, session, first, last, False)
        return collect(session, scope, planner)


__all__ = ["backfill_command", "fetch_command", "parse_range", "run_backfill", "site_today"]

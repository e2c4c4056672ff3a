"""fetch and backfill: which (stream, day) pages to read, then the collect job."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dogcli.archive.session import Archive
from dogcli.catalog.ledger import Wanted, incomplete_days
from dogcli.catalog.store import Catalog, open_catalog
from dogcli.config import Settings
from dogcli.jobs.collect import Collector, Reporter, Summary, days_between, fetch_plan, site_today
from dogcli.model.errors import CatalogUnavailable, UsageError

_RANGE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$")


def parse_range(text: str, today: date) -> tuple[date, date]:
    """`YYYY-MM-DD..YYYY-MM-DD` (inclusive) or one `YYYY-MM-DD`; no reversed or future days."""
    match = _RANGE_RE.match(text.strip())
    if not match:
        raise UsageError(f"bad range {text!r}: use YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD")
    try:
        first = date.fromisoformat(match[1])
        last = date.fromisoformat(match[2] or match[1])
    except ValueError as exc:
        raise UsageError(f"bad range {text!r}: {exc}") from None
    if last < first:
        raise UsageError(f"bad range {text!r}: {last} is before {first}")
    if last > today:
        raise UsageError(f"bad range {text!r}: {last} is in the future (today is {today})")
    return first, last


def run_fetch(
    settings: Settings,
    streams: Sequence[str] = (),
    max_days: int | None = None,
    reporter: Reporter | None = None,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    catalog_error: str = "",
    before_write: Callable[[], None] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """Fetch what is recent (fetch_plan) of every terminal; pass an open catalog (or why there
    is none) or let it open one. before_write runs before each catalog write (the runner's
    lock check)."""
    parts = settings.per_terminal(streams)
    if max_days is not None and max_days < 1:
        raise UsageError("--max-days must be at least 1")
    settings.browser_paths()  # a missing browser is a usage error, found before any work

    def plan(collector: Collector, part: Settings, catalog: Catalog | None) -> Pages:
        found = fetch_plan(part, catalog, part.streams, max_days, now)
        for note in found.notes:
            collector.reporter.note(note if len(parts) == 1 else f"{part.terminal}: {note}")
        return found.pages, found.retries

    return collect_terminals(parts, plan, reporter, catalog, catalog_error, before_write, summary)


def run_backfill(
    settings: Settings,
    first: date | None,
    last: date | None,
    streams: Sequence[str] = (),
    reporter: Reporter | None = None,
    catalog: Catalog | None = None,
    catalog_error: str = "",
    before_write: Callable[[], None] | None = None,
    summary: Summary | None = None,
    gaps: bool = False,
) -> Summary:
    """Read the days first..last again, or with `gaps` exactly the days the gap report
    lists as incomplete."""
    parts = settings.per_terminal(streams)
    settings.browser_paths()

    def plan(collector: Collector, part: Settings, catalog: Catalog | None) -> Pages:
        if gaps:
            if catalog is None:
                raise CatalogUnavailable(catalog_error or "catalog unavailable")
            pages = incomplete_days(part, catalog, part.streams)
            where = "" if len(parts) == 1 else f"{part.terminal}: "
            collector.reporter.note(
                f"{where}{len(pages)} incomplete day{'s' if len(pages) != 1 else ''} to read again"
            )
            return pages, []
        assert first is not None and last is not None
        return [(stream, day) for day in days_between(first, last) for stream in part.streams], []

    return collect_terminals(parts, plan, reporter, catalog, catalog_error, before_write, summary)


Pages = tuple[list[tuple[str, date]], list[Wanted]]


def collect_terminals(
    parts: Sequence[Settings],
    plan: Callable[[Collector, Settings, Catalog | None], Pages],
    reporter: Reporter | None,
    catalog: Catalog | None,
    catalog_error: str,
    before_write: Callable[[], None] | None,
    summary: Summary | None,
) -> Summary:
    """One collect job per terminal, one after the other, into one summary; with several
    terminals they share one catalog and one browser session (Chromium starts once)."""
    summary = summary if summary is not None else Summary()
    started = time.monotonic()
    owned: Catalog | None = None
    browser: Any = None
    if len(parts) > 1:
        from dogcli.sources.site.camera import Browser

        s = parts[0]
        if catalog is None and not catalog_error:
            owned, catalog_error = open_catalog(s)
            catalog = owned
        binary, driver = s.browser_paths()
        browser = Browser(binary, driver, s.page_timeout, s.timezone, state_dir=s.data_dir)
        browser.start_soon()
    try:
        for part in parts:
            collector = Collector(part, reporter, before_write, summary, browser=browser)
            try:
                attached = collector.attach(catalog, catalog_error)
                pages, retries = plan(collector, part, attached)
                collector.run(pages, retries)
            finally:
                collector.close()
    finally:
        if browser is not None:
            browser.close()
        if owned is not None:
            owned.close()
        summary.seconds = time.monotonic() - started
    return summary


__all__ = ["parse_range", "run_backfill", "run_fetch", "site_today"]


Hook = Callable[[], None] | None
CollectJob = Callable[[tuple[str, ...], Catalog | None, str, Hook, Summary], Summary]


def _recorded(
    settings: Settings,
    command: str,
    streams: Sequence[str],
    wait: float,
    metrics_file: Path | None,
    job: CollectJob,
) -> Summary:
    """Run a collect job locked, journaled, alerting, with metrics (as the CLI and timer do).
    The journal gets the counts of what the job did even when it is interrupted."""
    chosen = tuple(stream_names(settings, streams))
    settings.browser_paths()
    summary = Summary()
    with Archive(settings) as archive, archive.run(command, chosen, wait, metrics_file) as ctx:
        check = ctx.lock.ensure_held if ctx.lock is not None else None
        try:
            job(chosen, ctx.catalog, ctx.catalog_error, check, summary)
        finally:
            summary.record_counts(ctx.run)
        summary.record(ctx.run)
    return summary


def stream_names(settings: Settings, streams: Sequence[str] = ()) -> list[str]:
    """The streams a command picked, as the run journal names them: `TERMINAL:S` when the
    archive has several terminals."""
    parts = settings.per_terminal(streams)
    if len(settings.terminals) == 1:
        return [s for part in parts for s in part.streams]
    return [f"{part.terminal}:{s}" for part in parts for s in part.streams]


def fetch_command(
    settings: Settings,
    streams: Sequence[str] = (),
    max_days: int | None = None,
    reporter: Reporter | None = None,
    wait: float = 0.0,
    metrics_file: Path | None = None,
) -> Summary:
    def job(chosen: tuple[str, ...], catalog: Catalog | None, error: str, check: Hook,
            summary: Summary) -> Summary:  # fmt: skip
        return run_fetch(settings, chosen, max_days, reporter, catalog=catalog,
                         catalog_error=error, before_write=check, summary=summary)  # fmt: skip

    return _recorded(settings, "fetch", streams, wait, metrics_file, job)


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
    def job(chosen: tuple[str, ...], catalog: Catalog | None, error: str, check: Hook,
            summary: Summary) -> Summary:  # fmt: skip
        return run_backfill(settings, first, last, chosen, reporter, catalog=catalog,
                            catalog_error=error, before_write=check, summary=summary,
                            gaps=gaps)  # fmt: skip

    return _recorded(settings, "backfill", streams, wait, metrics_file, job)

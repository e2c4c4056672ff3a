"""What every fetch, backfill and cleanup shares: the catalog, the lock, the run journal,
alerts on a change of state and the metrics file."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogcli import clock
from dogcli.catalog.db import sqlite_broken
from dogcli.catalog.runs import Run, RunJournal
from dogcli.catalog.store import Catalog, open_catalog
from dogcli.errors import CatalogUnavailable, DogcliError
from dogcli.lock import ArchiveLock, LockBusy, archive_lock
from dogcli.settings import Settings
from dogcli.storage import Storage

log = logging.getLogger(__name__)
REBUILD_HINT = "; move it aside, then `dogcli verify --repair` catalogs the images again"


@dataclass
class Context:
    """Handed to a job: the catalog (None when unreachable, with the reason) and the run."""

    catalog: Catalog | None
    catalog_error: str
    run: Run
    lock: ArchiveLock | None = None  # lock.ensure_held() before each catalog write


def _quietly(what: str, action: Callable[[], Any]) -> Any:
    """Journal and metrics are bookkeeping: their failure never fails the run."""
    try:
        return action()
    except (CatalogUnavailable, DogcliError, OSError) as exc:
        log.warning("%s: %s", what, exc)
        return None


@contextmanager
def recorded_run(
    settings: Settings,
    command: str,
    streams: Sequence[str] = (),
    wait: float = 0.0,
    metrics_file: Path | None = None,
    needs_catalog: bool = False,
) -> Iterator[Context]:
    """Open the catalog, take the archive lock, journal the run, and afterwards alert and
    write metrics. The body fills ctx.run (counts, outcome) from its result."""
    Storage(settings.data_dir).ensure_writable()  # an unusable data dir is a usage error
    catalog, error = open_catalog(settings)
    run = Run(command=command, streams=list(streams))
    if catalog is None:
        broken = sqlite_broken(settings.effective_database_url)
        if broken is not None or needs_catalog:
            # A damaged catalog does not mend itself: carrying on without it (as through a
            # server outage) re-downloaded every image on every run, silently. It fails the
            # run, and alerts; the run cannot be journaled in it.
            message = broken + REBUILD_HINT if broken else error
            run.outcome, run.error, run.finished_at = "failed", message, clock.now()
            _after(settings, run, None, metrics_file)
            raise CatalogUnavailable(message)

    journal = RunJournal(catalog) if catalog is not None else None
    try:
        with _locked(settings, catalog, wait, run, journal) as lock:
            if journal:
                _quietly("run journal", lambda: journal.start(run))
            try:
                yield Context(catalog, error, run, lock)
            except BaseException as exc:
                run.outcome = "failed"
                if isinstance(exc, DogcliError):
                    run.error = str(exc)
                else:
                    run.error = "interrupted" if isinstance(exc, KeyboardInterrupt) else repr(exc)
                raise
            finally:
                run.finished_at = clock.now()
                if journal:
                    _quietly("run journal", lambda: journal.finish(run))
    finally:
        _after(settings, run, catalog, metrics_file)
        if catalog is not None:
            catalog.close()


@contextmanager
def _locked(
    settings: Settings, catalog: Catalog | None, wait: float, run: Run, journal: RunJournal | None
) -> Iterator[ArchiveLock]:
    """The archive lock; a refused lock is journaled as a skipped run and raised (exit 75)."""
    try:
        lock = archive_lock(settings.data_dir, catalog, wait)
        held = lock.__enter__()
    except LockBusy as exc:
        run.outcome, run.error, run.finished_at = "skipped", str(exc), clock.now()
        if journal:
            _quietly("run journal", lambda: journal.finish(run))
        raise
    except (CatalogUnavailable, OSError) as exc:
        raise DogcliError(f"cannot take the archive lock: {exc}") from None
    except Exception as exc:  # PostgreSQL went away: this host's lock still guards the disk
        log.warning("advisory lock unavailable (%s); using the data dir lock", exc)
        lock = archive_lock(settings.data_dir, None, wait)
        held = lock.__enter__()
    try:
        yield held
    finally:
        lock.__exit__(None, None, None)


def _after(
    settings: Settings, run: Run, catalog: Catalog | None, metrics_file: Path | None
) -> None:
    from dogcli.alerts import notify_change

    if run.command == "fetch" and run.outcome not in ("skipped", "running"):
        body = (
            f"{run.command} on {run.host}: {run.outcome}; found {run.found}, new {run.new}, "
            f"failed {run.failed}" + (f"\n{run.error}" if run.error else "")
        )
        _quietly("alert", lambda: notify_change(
            settings.alert_urls, settings.data_dir, "fetch", run.outcome == "failed",
            "fetch failed" if run.outcome == "failed" else "fetch", body,
        ))  # fmt: skip
    path = metrics_file or settings.metrics_file
    if path is not None and catalog is not None:
        from dogcli.reports.metrics import render, write_metrics

        _quietly("metrics file", lambda: write_metrics(path, render(settings, catalog)))

"""One archive as every command sees it: opened once from Settings, it owns the catalog, the
storage, the lock, the run journal, alerts and metrics. Jobs and reports go through it; the
CLI never opens any of these itself.

Commands that only look (health, stats, runs, gaps, verify without --repair) never create
anything: opening a SQLite URL whose file does not exist would create it (and its folder),
so they ask `missing()` first and report "no archive yet" instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogcli.archive.lock import ArchiveLock, LockBusy, archive_lock
from dogcli.catalog import db
from dogcli.catalog.quick import no_archive_message as no_archive_message
from dogcli.catalog.runs import Run, RunJournal
from dogcli.catalog.store import Catalog, catalog_for
from dogcli.config import Settings
from dogcli.model import clock
from dogcli.model.errors import CatalogUnavailable, DogcliError
from dogcli.storage.local import Storage

log = logging.getLogger(__name__)
PINGED = ("fetch", "backfill", "cleanup")
REBUILD_HINT = "; move it aside, then `dogcli verify --repair` catalogs the images again"


@dataclass
class Context:
    """Handed to a job: the catalog (None when unreachable, with the reason) and the run."""

    catalog: Catalog | None
    catalog_error: str
    run: Run
    lock: ArchiveLock | None = None  # lock.ensure_held() before each catalog write


def quietly(what: str, action: Callable[[], Any]) -> Any:
    """Journal, alerts and metrics are bookkeeping: their failure never fails the run."""
    try:
        return action()
    except (CatalogUnavailable, DogcliError, OSError) as exc:
        log.warning("%s: %s", what, exc)
        return None


def run_summary(run: Run) -> str:
    """What an alert and a heartbeat say about a run: counts, then the error if any."""
    if run.command == "cleanup":
        counts = f"deleted {run.deleted}, {run.bytes} bytes"
    else:
        counts = f"found {run.found}, new {run.new}, failed {run.failed}"
    seconds = f" in {run.seconds:.1f} s" if run.seconds is not None else ""
    return f"{run.command} on {run.host}: {run.outcome}{seconds}; {counts}" + (
        f"\n{run.error}" if run.error else ""
    )


class Archive:
    """The data dir and its catalog. The catalog is opened (and migrated) at most once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = Storage(settings.data_dir)
        self._catalog: Catalog | None = None
        self.catalog_error = ""
        self._run_id = ""  # pairs a heartbeat's start with its end

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    # -- the catalog ---------------------------------------------------------------------------

    def missing(self) -> Path | None:
        """The SQLite file of the catalog when it does not exist yet (None: it exists, or the
        catalog is a server, which is never created by opening it)."""
        path = db.sqlite_file(self.settings.effective_database_url)
        if path is None or path.exists():
            return None
        return path

    def catalog(self, max_retries: int | None = None, migrate: bool = True) -> Catalog:
        """The catalog, brought to the newest schema (health looks without: `migrate`
        False); CatalogUnavailable when it cannot be reached."""
        if self._catalog is None:
            catalog = catalog_for(self.settings, max_retries)
            try:
                if migrate:
                    catalog.upgrade()
            except BaseException:
                catalog.close()
                raise
            self._catalog = catalog
        return self._catalog

    def catalog_or_none(self) -> Catalog | None:
        """The catalog, or None (the reason in catalog_error) for jobs that carry on without:
        images stay on disk and the next run catalogs them."""
        try:
            return self.catalog()
        except CatalogUnavailable as exc:
            self.catalog_error = str(exc)
            return None

    def existing_catalog(self, max_retries: int | None = None) -> Catalog | None:
        """For commands that only look: None when there is no archive yet."""
        if self.missing() is not None:
            return None
        return self.catalog(max_retries)

    # -- runs ----------------------------------------------------------------------------------

    @contextmanager
    def run(
        self,
        command: str,
        streams: Sequence[str] = (),
        wait: float = 0.0,
        metrics_file: Path | None = None,
        needs_catalog: bool = False,
    ) -> Iterator[Context]:
        """Open the catalog, take the archive lock, journal the run, and afterwards alert and
        write metrics. The body fills ctx.run (counts, outcome) from its result."""
        settings = self.settings
        self.storage.ensure_writable()  # an unusable data dir is a usage error
        catalog = self.catalog_or_none()
        run = Run(command=command, streams=list(streams))
        if catalog is None:
            broken = db.sqlite_broken(settings.effective_database_url)
            if broken is not None or needs_catalog:
                # A damaged catalog does not mend itself: carrying on without it (as through
                # a server outage) re-downloaded every image on every run, silently. It fails
                # the run, and alerts; the run cannot be journaled in it.
                message = broken + REBUILD_HINT if broken else self.catalog_error
                run.outcome, run.error, run.finished_at = "failed", message, clock.now()
                self._after(run, None, metrics_file)
                raise CatalogUnavailable(message)
        journal = RunJournal(catalog) if catalog is not None else None
        try:
            with self._locked(catalog, wait, run, journal) as lock:
                self.heartbeat(run, "start")
                if journal:
                    quietly("run journal", lambda: journal.start(run))
                try:
                    yield Context(catalog, self.catalog_error, run, lock)
                except BaseException as exc:
                    run.outcome = "failed"
                    if isinstance(exc, DogcliError):
                        run.error = str(exc)
                    elif isinstance(exc, KeyboardInterrupt):
                        run.error = "interrupted"
                    else:
                        run.error = repr(exc)
                    raise
                finally:
                    run.finished_at = clock.now()
                    if journal:
                        quietly("run journal", lambda: journal.finish(run))
        finally:
            self._after(run, catalog, metrics_file)

    @contextmanager
    def _locked(
        self, catalog: Catalog | None, wait: float, run: Run, journal: RunJournal | None
    ) -> Iterator[ArchiveLock]:
        """The archive lock; a refused lock is journaled as a skipped run and raised (75)."""
        data_dir = self.settings.data_dir
        try:
            lock = archive_lock(data_dir, catalog, wait)
            held = lock.__enter__()
        except LockBusy as exc:
            run.outcome, run.error, run.finished_at = "skipped", str(exc), clock.now()
            if journal:
                quietly("run journal", lambda: journal.finish(run))
            raise
        except (CatalogUnavailable, OSError) as exc:
            raise DogcliError(f"cannot take the archive lock: {exc}") from None
        except Exception as exc:  # PostgreSQL went away: this host's lock still guards the disk
            log.warning("advisory lock unavailable (%s); using the data dir lock", exc)
            lock = archive_lock(data_dir, None, wait)
            held = lock.__enter__()
        try:
            yield held
        finally:
            lock.__exit__(None, None, None)

    @contextmanager
    def locked(self, wait: float = 0.0, shared: bool = False) -> Iterator[ArchiveLock]:
        """The archive lock alone (verify): shared to look, exclusive to repair."""
        with archive_lock(self.settings.data_dir, self.catalog(), wait, shared=shared) as held:
            yield held

    def _after(self, run: Run, catalog: Catalog | None, metrics_file: Path | None) -> None:
        if run.outcome not in ("skipped", "running"):
            failing = run.outcome == "failed"
            if run.command == "fetch":
                subject = "fetch failed" if failing else "fetch"
                self.alert("fetch", failing, subject, run_summary(run))
            self.heartbeat(run, "fail" if failing else "success")
        path = metrics_file or self.settings.metrics_file
        if path is not None and catalog is not None:
            self.write_metrics(path)

    # -- alerts and metrics --------------------------------------------------------------------

    def alert(self, key: str, failing: bool, subject: str, body: str) -> None:
        """An alert on a change of state only (kept in the data dir)."""
        from dogcli.ops.alerts import notify_change

        settings = self.settings
        quietly("alert", lambda: notify_change(
            settings.alert_urls, settings.data_dir, key, failing, subject, body
        ))  # fmt: skip

    def heartbeat(self, run: Run, event: str) -> None:
        """A ping to DOGCLI_PING_URL (healthchecks.io's convention) from fetch, backfill and
        cleanup: on start (once the lock is held), then success or failure with the summary.
        A skipped run (the lock was busy) pings nothing: the run that holds it pings."""
        url = self.settings.ping_url
        if not url or run.command not in PINGED:
            return
        from dogcli.ops.alerts import ping

        if not self._run_id:
            self._run_id = str(uuid.uuid4())
        body = "" if event == "start" else run_summary(run)
        quietly("heartbeat", lambda: ping(url, event, body, self._run_id))

    def write_metrics(self, path: Path, health_status: int | None = None) -> None:
        """The whole Prometheus textfile, derived from the catalog, written atomically."""
        from dogcli.ops.metrics import render, write_metrics

        catalog = self._catalog
        if catalog is None:
            return
        quietly("metrics file", lambda: write_metrics(
            path, render(self.settings, catalog, health_status)
        ))  # fmt: skip

"""A run's lifecycle around a job: the archive lock, the run journal, and afterwards the
alert (on a change of state), the heartbeat and the metrics file. Bookkeeping never fails
the run: a journal, alert or metrics error is logged and the run goes on."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dogcli.archive.lock import ArchiveLock, LockBusy, archive_lock
from dogcli.catalog import db, location
from dogcli.catalog.captures import Catalog
from dogcli.catalog.runs import Run, RunJournal
from dogcli.config import Settings
from dogcli.model import clock
from dogcli.model.errors import CatalogUnavailable, DogcliError
from dogcli.storage.local import LocalStorage

log = logging.getLogger(__name__)
PINGED = ("fetch", "backfill", "cleanup")
REBUILD_HINT = "; move it aside, then `dogcli verify --repair` catalogs the images again"


@dataclass
class RunContext:
    """Handed to a job: its journal entry, and the lock to check before each catalog write."""

    run: Run
    lock: ArchiveLock | None = None

    @property
    def before_write(self) -> Callable[[], None] | None:
        return self.lock.ensure_held if self.lock is not None else None


class Owner(Protocol):
    """What a run needs of its session."""

    settings: Settings
    storage: LocalStorage
    outage: str
    run_id: str

    def catalog_or_none(self) -> Catalog | None: ...
    def opened_catalog(self) -> Catalog | None: ...


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


@contextmanager
def run_lifecycle(
    owner: Owner,
    command: str,
    streams: Sequence[str] = (),
    wait: float = 0.0,
    metrics_file: Path | None = None,
    needs_catalog: bool = False,
) -> Iterator[RunContext]:
    """Open the catalog, take the archive lock, journal the run, and afterwards alert and
    write metrics. The body fills ctx.run (counts, outcome) from its result."""
    settings = owner.settings
    owner.storage.ensure_writable()  # an unusable data dir is a usage error
    run = Run(command=command, streams=list(streams))
    lost = lost_catalog(settings, owner.storage)
    if lost is not None:
        # Opening the catalog would create an empty one and the run would start the archive
        # afresh beside its images: stop before anything is created (exit 1, as for a
        # damaged catalog: the archive needs mending, the settings may be right).
        run.outcome, run.error, run.finished_at = "failed", lost, clock.now()
        _after(owner, run, metrics_file)
        raise DogcliError(lost)
    catalog = owner.catalog_or_none()
    if catalog is None:
        broken = db.sqlite_broken(settings.effective_database_url)
        if broken is not None or needs_catalog:
            # A damaged catalog does not mend itself: carrying on without it (as through
            # a server outage) re-downloaded every image on every run, silently. It fails
            # the run, and alerts; the run cannot be journaled in it.
            message = broken + REBUILD_HINT if broken else owner.outage
            run.outcome, run.error, run.finished_at = "failed", message, clock.now()
            _after(owner, run, metrics_file)
            raise CatalogUnavailable(message)
    journal = RunJournal(catalog) if catalog is not None else None
    try:
        with _locked(settings.data_dir, catalog, wait, run, journal) as lock:
            heartbeat(owner, run, "start")
            if journal:
                # The lock is held: no other run of this archive is live on this host, so
                # its entries still "running" belong to dead processes (SIGKILL, outage).
                marked = quietly("run journal", lambda: journal.mark_interrupted(run))
                if marked:
                    log.info("run journal: %d run(s) of ended processes marked interrupted", marked)
                quietly("run journal", lambda: journal.start(run))
            try:
                yield RunContext(run, lock)
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
        _after(owner, run, metrics_file)


def lost_catalog(settings: Settings, storage: LocalStorage) -> str | None:
    """The line to stop with when the SQLite catalog file is missing while images/ holds
    images that no pending record names (those a run through an outage left are replayed)."""
    path = location.missing(settings)
    images = settings.images_dir
    if path is None or not images.is_dir():
        return None
    journaled: set[str] | None = None
    for folder, _dirs, names in os.walk(images):
        for name in names:
            if not name.endswith(".jpg") or name.startswith("."):
                continue
            if journaled is None:
                journaled = {r.path for r in storage.pending()}
            rel = os.path.relpath(os.path.join(folder, name), settings.data_dir)
            if Path(rel).as_posix() not in journaled:
                return (
                    f"{path} does not exist but {images} holds images: "
                    "`dogcli verify --repair` catalogs them from the disk"
                )
    return None


@contextmanager
def _locked(
    data_dir: Path, catalog: Catalog | None, wait: float, run: Run, journal: RunJournal | None
) -> Iterator[ArchiveLock]:
    """The archive lock; a refused lock is journaled as a skipped run and raised (75)."""
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
    except DogcliError:  # the data dir's own lock file is unusable: no fallback helps
        raise
    except Exception as exc:  # PostgreSQL went away: this host's lock still guards the disk
        log.warning("advisory lock unavailable (%s); using the data dir lock", exc)
        lock = archive_lock(data_dir, None, wait)
        held = lock.__enter__()
    try:
        yield held
    finally:
        lock.__exit__(None, None, None)


def _after(owner: Owner, run: Run, metrics_file: Path | None) -> None:
    settings = owner.settings
    if run.outcome not in ("skipped", "running"):
        failing = run.outcome == "failed"
        if run.command == "fetch":
            subject = "fetch failed" if failing else "fetch"
            alert(settings, "fetch", failing, subject, run_summary(run))
        heartbeat(owner, run, "fail" if failing else "success")
    path = metrics_file or settings.metrics_file
    if path is not None and owner.opened_catalog() is not None:
        write_metrics(settings, owner.opened_catalog(), path)


def alert(settings: Settings, key: str, failing: bool, subject: str, body: str) -> None:
    """An alert on a change of state only (kept in the data dir)."""
    from dogcli.ops.alerts import notify_change

    quietly("alert", lambda: notify_change(
        settings.alert_urls, settings.data_dir, key, failing, subject, body
    ))  # fmt: skip


def heartbeat(owner: Owner, run: Run, event: str) -> None:
    """A ping to DOGCLI_PING_URL (healthchecks.io's convention) from fetch, backfill and
    cleanup: on start (once the lock is held), then success or failure with the summary.
    A skipped run (the lock was busy) pings nothing: the run that holds it pings."""
    url = owner.settings.ping_url
    if not url or run.command not in PINGED:
        return
    from dogcli.ops.heartbeat import ping

    if not owner.run_id:
        owner.run_id = str(uuid.uuid4())
    body = "" if event == "start" else run_summary(run)
    run_id = owner.run_id
    quietly("heartbeat", lambda: ping(url, event, body, run_id))


def write_metrics(
    settings: Settings, catalog: Catalog | None, path: Path, health_status: int | None = None
) -> None:
    """The whole Prometheus textfile, derived from the catalog, written atomically."""
    from dogcli.ops.metrics import render, write_metrics

    if catalog is None:
        return
    quietly("metrics file", lambda: write_metrics(
        path, render(settings, catalog, health_status)
    ))  # fmt: skip

"""One archive as every command sees it: `Archive.open(settings)` gives a Session that owns the
catalog (opened and migrated at most once), the storage, the lock, the run journal, alerts and
metrics. Jobs and reports go through it; nothing else opens any of these.

A catalog that cannot be reached is not always fatal: fetch and backfill carry on without it
(images stay on disk, journaled, and the next run catalogs them). The Session keeps why it has
none (`outage`), so that no (catalog, error) pair travels through the jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from dogcli.archive.ingest import Ingest
from dogcli.archive.lifecycle import RunContext, alert, run_lifecycle, write_metrics
from dogcli.archive.lock import ArchiveLock, archive_lock
from dogcli.catalog import location
from dogcli.catalog.captures import Catalog, catalog_for
from dogcli.config import Settings
from dogcli.model.errors import CatalogUnavailable
from dogcli.storage.local import LocalStorage

log = logging.getLogger(__name__)


class Archive:
    """The way in: `with Archive.open(settings) as session: ...`."""

    @staticmethod
    def open(settings: Settings) -> Session:
        return Session(settings)


class Session:
    """The data dir and its catalog for one command."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = LocalStorage(settings.data_dir)
        self._catalog: Catalog | None = None
        self.outage = ""  # why the catalog could not be reached, once it could not
        self.run_id = ""  # pairs a heartbeat's start with its end

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    # -- the catalog ---------------------------------------------------------------------------

    def missing(self) -> Path | None:
        """The catalog file when it does not exist yet: there is no archive here."""
        return location.missing(self.settings)

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
        """The catalog, or None (the reason in `outage`) for jobs that carry on without."""
        if self._catalog is None and self.outage:
            return None
        try:
            return self.catalog()
        except CatalogUnavailable as exc:
            self.outage = str(exc)
            return None

    def opened_catalog(self) -> Catalog | None:
        """The catalog if this session has opened it (metrics are written from it)."""
        return self._catalog

    def existing_catalog(self, max_retries: int | None = None) -> Catalog | None:
        """For commands that only look: None when there is no archive yet."""
        if self.missing() is not None:
            return None
        return self.catalog(max_retries)

    # -- the lock and the writers ----------------------------------------------------------

    @contextmanager
    def locked(self, wait: float = 0.0, shared: bool = False) -> Iterator[ArchiveLock]:
        """The archive lock alone (verify): shared to look, exclusive to repair."""
        with archive_lock(self.settings.data_dir, self.catalog(), wait, shared=shared) as held:
            yield held

    def ingest(
        self,
        note: Callable[[str], None],
        before_write: Callable[[], None] | None = None,
    ) -> Ingest:
        """The way captures enter the archive: journal, atomic file, catalog rows in batches
        (or, through a catalog outage, the journal alone until a later run)."""
        s = self.settings
        return Ingest(
            self.storage, self.catalog_or_none(), self.outage, s.zones, s.batch_size,
            before_write, note,
        )  # fmt: skip

    def run(
        self,
        command: str,
        streams: Sequence[str] = (),
        wait: float = 0.0,
        metrics_file: Path | None = None,
        needs_catalog: bool = False,
    ) -> AbstractContextManager[RunContext]:
        """Take the lock, journal the run, and afterwards alert, ping and write metrics."""
        return run_lifecycle(self, command, streams, wait, metrics_file, needs_catalog)

    def alert(self, key: str, failing: bool, subject: str, body: str) -> None:
        alert(self.settings, key, failing, subject, body)

    def write_metrics(self, path: Path, health_status: int | None = None) -> None:
        write_metrics(self.settings, self._catalog, path, health_status)

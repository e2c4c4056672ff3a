"""How a capture enters the archive: its record journaled, its file written atomically, its
row inserted in a batch, its day recounted in the ledger.

Crash and outage behaviour: every placed file was journaled first (`.pending.jsonl`), so a
run killed between the rename and the insert, or one that ran through a catalog outage,
leaves records the next run replays into the catalog (`replay_pending`). Through an outage
the ingest keeps going on the journal alone and reads "what we already have" from the disk;
the journal is removed only once every file it names is known to be cataloged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime

from dogcli.catalog.captures import Catalog
from dogcli.catalog.days import DayRead
from dogcli.catalog.ledger import Ledger
from dogcli.model.captures import Zones, capture_from_path
from dogcli.model.errors import CatalogUnavailable
from dogcli.sources.base import Downloaded, Found
from dogcli.storage.base import StoredFile
from dogcli.storage.local import LocalStorage


class Ingest:
    """One job's way into the archive. Thread-safe `place` (download threads); the rest is
    called from the job's own thread."""

    def __init__(
        self,
        storage: LocalStorage,
        catalog: Catalog | None,
        outage: str,
        zones: Zones,
        batch_size: int,
        before_write: Callable[[], None] | None,
        note: Callable[[str], None],
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.zones = zones
        self.batch_size = batch_size
        self.before_write = before_write  # the run's check that the archive lock is held
        self.note = note
        self.errors: list[str] = []  # run-level problems (the catalog went away)
        self.recovered = 0  # records of earlier runs cataloged by replay_pending
        self._buffer: list[StoredFile] = []
        self._replace: list[StoredFile] = []
        self._lock = threading.Lock()
        if catalog is None:
            self._down(outage or "catalog unavailable")

    @property
    def down(self) -> bool:
        """No catalog for the rest of this job: files go to the journal alone."""
        return self.catalog is None or bool(self.errors)

    def _down(self, message: str) -> None:
        if not self.errors:
            self.errors.append(message)
            self.note(f"{message}; images stay on disk and the next run catalogs them")

    # -- files and rows ------------------------------------------------------------------------

    def place(self, got: Downloaded) -> StoredFile:
        """Journal, then write the file atomically (from any thread)."""
        return self.storage.place(got.capture, got.variant, got.url, got.data, got.sha256)

    def add(self, record: StoredFile, replace: bool = False) -> None:
        """A placed file's row, inserted with the next batch; `replace` updates the row of a
        capture already cataloged (a thumbnail upgraded, a damaged file downloaded again)."""
        with self._lock:
            (self._replace if replace else self._buffer).append(record)
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self, force: bool = False) -> None:
        """Insert the rows so far; `force`: check the lock even with none (the ledger's writes
        follow: a run that lost its lock writes nothing beside the run that took it)."""
        if self.down or not (force or self._buffer or self._replace):
            return
        if self.before_write is not None:
            self.before_write()
        assert self.catalog is not None
        with self._lock:
            batch, replace = list(self._buffer), list(self._replace)
        try:
            if batch:
                self.catalog.insert(batch, self.zones.url, self.batch_size)
            if replace:
                self.catalog.insert(replace, self.zones.url, self.batch_size, replace=True)
        except CatalogUnavailable as exc:
            self._down(str(exc))
            return
        with self._lock:
            del self._buffer[: len(batch)]
            del self._replace[: len(replace)]

    def finish(self, completed: bool) -> None:
        """The last rows; the journal goes once every file it names is known cataloged."""
        self.flush(force=True)
        if completed and not self.down:
            self.storage.clear_pending()

    def replay_pending(self) -> None:
        """Catalog files a crashed or catalog-less run left on disk (the pending journal)."""
        if self.down:
            return
        assert self.catalog is not None
        records = {
            (r.terminal, r.stream, r.url_ts): r
            for r in self.storage.pending()
            if self.storage.size(r.path) == r.bytes
        }
        if not records:
            self.storage.clear_pending()
            return
        keys = list(records)
        try:
            known = self.catalog.known(keys)
            missing = [records[k] for k in keys if k not in known]
            self.catalog.insert(missing, self.zones.url, self.batch_size)
            # A known capture whose file was replaced (a thumbnail by its full size) before
            # its row was: the row follows the file.
            replaced = [records[k] for k in keys if k in known]
            self.catalog.insert(replaced, self.zones.url, self.batch_size, replace=True)
            changed = [*missing, *replaced]
            for terminal in sorted({r.terminal for r in changed}):
                Ledger(self.catalog, terminal, self.zones).recount(
                    (r.stream, self._day_of(r.url_ts)) for r in changed if r.terminal == terminal
                )
        except CatalogUnavailable as exc:
            self._down(str(exc))
            return
        self.storage.clear_pending()
        if missing:
            self.recovered += len(missing)
            self.note(f"cataloged {len(missing)} images left uncataloged by an earlier run")

    def _day_of(self, url_ts: str) -> date:
        return self.zones.day_of(self.zones.to_utc(datetime.fromisoformat(url_ts)))

    # -- what we already have ------------------------------------------------------------------

    def had(self, terminal: str, stream: str, day: date) -> tuple[set[str], set[str]]:
        """(URL stamps to skip, stamps whose row exists but whose file is gone or differs)."""
        if self.down:
            # Every placed file was journaled first, so it is cataloged or will be.
            names = self.storage.day_files(terminal, stream, day)
            return set(self._names_to_stamps(terminal, stream, names)), set()
        assert self.catalog is not None
        try:
            rows = self.catalog.have_day(terminal, stream, *self.zones.day_bounds(day))
        except CatalogUnavailable as exc:
            self._down(str(exc))
            return self.had(terminal, stream, day)
        skip: set[str] = set()
        broken: set[str] = set()
        for ts, have in rows.items():
            # The row's own path: an archive of the earlier layout keeps its names until
            # `verify --repair` renames them.
            (skip if self.storage.size(have.path) == have.bytes else broken).add(ts)
        return skip, broken

    def had_days(
        self, terminal: str, stream: str, day: date, found: Sequence[Found]
    ) -> tuple[set[str], set[str]]:
        """had() of `day` and of every other local day among the captures found: the History
        is trusted, so a capture of another day it lists is kept (in its own day's folder)
        and must be found there next time, not downloaded again on every run."""
        skip, broken = self.had(terminal, stream, day)
        for other in sorted({f.capture.day for f in found} - {day}):
            more_skip, more_broken = self.had(terminal, stream, other)
            skip |= more_skip
            broken |= more_broken
        return skip, broken

    def _names_to_stamps(self, terminal: str, stream: str, names: Iterable[str]) -> Iterable[str]:
        for name in names:
            parsed = capture_from_path(terminal, stream, name, self.zones)
            if parsed is not None:
                yield parsed[0].url_ts

    # -- the ledger ------------------------------------------------------------------------

    def record_reads(
        self, terminal: str, reads: Sequence[DayRead], retried: Sequence[tuple[str, str, str]],
        at: datetime,
    ) -> None:  # fmt: skip
        """What a job read and retried, into the ledger (after the rows it counts)."""
        if self.down:
            return  # the next run reads those days again
        assert self.catalog is not None
        ledger = Ledger(self.catalog, terminal, self.zones)
        try:
            ledger.record(reads)
            if retried:
                ledger.attempted(retried, at)
        except CatalogUnavailable as exc:
            self._down(str(exc))

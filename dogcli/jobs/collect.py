"""The collect job behind fetch and backfill: discover, download, store, catalog.

Discovery runs in the calling thread (one browser) while downloads of the days already
discovered run in a thread pool, so the page's API delay and the CDN overlap.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from dogcli import clock
from dogcli.captures import FULL, Capture, capture_from_path
from dogcli.catalog.store import Catalog, open_catalog
from dogcli.errors import CatalogUnavailable, DiscoveryError, NoCamera, StorageError
from dogcli.settings import Settings
from dogcli.storage import Storage, StoredFile

if TYPE_CHECKING:  # requests costs a tenth of a second to import: only runs that download
    from dogcli.cdn import CdnClient
    from dogcli.site import Found

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """What a job tells its caller while it runs (the CLI draws it)."""

    def planned(self, days: int) -> None: ...
    def day_found(self, stream: str, day: date, found: int, new: int) -> None: ...
    def image_done(self, ok: bool) -> None: ...
    def note(self, message: str) -> None: ...


class QuietReporter:
    def planned(self, days: int) -> None:
        pass

    def day_found(self, stream: str, day: date, found: int, new: int) -> None:
        pass

    def image_done(self, ok: bool) -> None:
        pass

    def note(self, message: str) -> None:
        log.info("%s", message)


@dataclass
class Summary:
    found: int = 0
    new: int = 0
    full: int = 0
    thumbnail: int = 0
    already: int = 0
    failed: int = 0
    recovered: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # run-level problems (catalog, disk)
    catalog_down: bool = False
    pages: int = 0
    pages_failed: int = 0
    no_camera: list[str] = field(default_factory=list)  # streams whose page has no camera

    @property
    def downloaded(self) -> int:
        return self.full + self.thumbnail

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    @property
    def outcome(self) -> str:
        """ok; failed when no page could be read at all; partial otherwise."""
        if self.ok:
            return "ok"
        if self.pages and self.pages_failed == self.pages:
            return "failed"
        return "partial"

    def record(self, run: Any) -> None:
        """Copy the counts into a run-journal entry."""
        run.found, run.new, run.failed, run.bytes = self.found, self.new, self.failed, self.bytes
        run.outcome = self.outcome
        problems = self.errors + [f"failed: {f}" for f in self.failures[:3]]
        run.error = "; ".join(problems)

    def line(self) -> str:
        parts = [
            f"found {self.found}",
            f"new {self.new}",
            f"downloaded {self.downloaded} ({self.full} full, {self.thumbnail} thumbnail)",
            f"already had {self.already}",
            f"failed {self.failed}",
        ]
        if self.recovered:
            parts.append(f"recovered {self.recovered}")
        if self.no_camera:
            parts.append(f"no camera: {', '.join(self.no_camera)}")
        parts.append(f"{self.seconds:.1f}s")
        return ", ".join(parts)


def site_today(settings: Settings, now: datetime | None = None) -> date:
    return (now or clock.now()).astimezone(settings.tz).date()


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class Collector:
    """Runs one collect job; owns the catalog, storage, CDN client and browser for its run."""

    def __init__(
        self,
        settings: Settings,
        reporter: Reporter | None = None,
    ) -> None:
        self.settings = settings
        self.zones = settings.zones
        self.reporter = reporter or QuietReporter()
        self.retry_base = settings.retry_base
        self.read_timeout = settings.read_timeout
        self.storage = Storage(settings.data_dir)
        self.summary = Summary()
        self.catalog: Catalog | None = None
        self._owns_catalog = False
        self._buffer: list[StoredFile] = []
        # Finished downloads, in completion order: waiting on the set of pending futures
        # instead (concurrent.futures.wait) costs O(pending) per call, O(n^2) per backfill.
        self._completed: queue.SimpleQueue[Future[tuple[StoredFile, bool]]] = queue.SimpleQueue()
        self._replace: list[StoredFile] = []

    # -- catalog access that survives an outage ----------------------------------------------

    def open_catalog(self) -> Catalog | None:
        catalog, error = open_catalog(self.settings)
        self.use_catalog(catalog, error)
        self._owns_catalog = True
        return catalog

    def attach(self, catalog: Catalog | None, catalog_error: str) -> Catalog | None:
        """Use the caller's catalog (or its reason for having none); else open one."""
        if catalog is not None or catalog_error:
            self.use_catalog(catalog, catalog_error)
            return catalog
        return self.open_catalog()

    def use_catalog(self, catalog: Catalog | None, error: str = "") -> None:
        """Work with a catalog opened by the caller; None with the reason it is unreachable."""
        self.catalog = catalog
        if catalog is None:
            self._catalog_failed(error or "catalog unavailable")

    def _catalog_failed(self, message: str) -> None:
        if not self.summary.catalog_down:
            self.summary.catalog_down = True
            self.summary.errors.append(message)
            self.reporter.note(f"{message}; images stay on disk and the next run catalogs them")

    def replay_pending(self) -> None:
        """Catalog files a crashed or catalog-less run left on disk (the pending journal)."""
        if self.catalog is None:
            return
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
            self.catalog.insert(missing, self.zones.url, self.settings.batch_size)
        except CatalogUnavailable as exc:
            self._catalog_failed(str(exc))
            return
        self.storage.clear_pending()
        if missing:
            self.summary.recovered += len(missing)
            self.reporter.note(
                f"cataloged {len(missing)} images left uncataloged by an earlier run"
            )

    def _flush(self, force: bool = False) -> None:
        if self.catalog is None or self.summary.catalog_down:
            return
        if not force and len(self._buffer) < self.settings.batch_size:
            return
        if (before_write := getattr(self, "before_write", None)) is not None:
            before_write()  # set by the runner: is the archive lock still held? (lock.py)
        try:
            if self._buffer:
                self.catalog.insert(self._buffer, self.zones.url, self.settings.batch_size)
            if self._replace:
                self.catalog.insert(
                    self._replace, self.zones.url, self.settings.batch_size, replace=True
                )
        except CatalogUnavailable as exc:
            self._catalog_failed(str(exc))
            return
        self._buffer.clear()
        self._replace.clear()

    # -- what we already have --------------------------------------------------------------

    def _had(self, stream: str, day: date) -> tuple[set[str], set[str]]:
        """(URL stamps to skip, stamps whose row exists but whose file is gone or differs)."""
        terminal = self.settings.terminal
        if self.catalog is None or self.summary.catalog_down:
            # Every placed file was journaled first, so it is cataloged or will be.
            names = self.storage.day_files(terminal, stream, f"{day:%Y-%m-%d}")
            return set(self._names_to_stamps(stream, names)), set()
        try:
            rows = self.catalog.have_day(terminal, stream, *self.zones.day_bounds(day))
        except CatalogUnavailable as exc:
            self._catalog_failed(str(exc))
            return self._had(stream, day)
        skip: set[str] = set()
        broken: set[str] = set()
        for ts, have in rows.items():
            # The row's own path: an archive of the earlier layout keeps its names until
            # `verify --repair` renames them.
            (skip if self.storage.size(have.path) == have.bytes else broken).add(ts)
        return skip, broken

    def _had_days(
        self, stream: str, day: date, found: Sequence[Found]
    ) -> tuple[set[str], set[str]]:
        """_had() of `day` and of every other local day among the captures found: the
        History is trusted, so a capture of another day it lists is kept (in its own day's
        folder) and must be found there next time, not downloaded again on every run."""
        skip, broken = self._had(stream, day)
        for other in sorted({f.capture.day for f in found} - {day}):
            more_skip, more_broken = self._had(stream, other)
            skip |= more_skip
            broken |= more_broken
        return skip, broken

    def _names_to_stamps(self, stream: str, names: Iterable[str]) -> Iterable[str]:
        for name in names:
            parsed = capture_from_path(self.settings.terminal, stream, name, self.zones)
            if parsed is not None:
                yield parsed[0].url_ts

    # -- the job ---------------------------------------------------------------------------

    def run(self, plan: Sequence[tuple[str, date]]) -> Summary:
        from dogcli.site import Browser, CameraSite

        started = time.monotonic()
        s = self.settings
        plan = by_stream(plan)
        self.storage.ensure_writable()
        binary, driver = s.browser_paths()
        browser = Browser(binary, driver, s.page_timeout, s.timezone)
        if plan:  # Chromium starts (a second or more) while the rest gets ready
            browser.start_soon()
        try:
            from dogcli.cdn import CdnClient

            if self.catalog is None and not self.summary.catalog_down:
                self.open_catalog()
            self.replay_pending()
            self.reporter.planned(len(plan))
            cdn = CdnClient(
                s.cdn_url,
                concurrency=s.concurrency,
                max_retries=s.max_retries,
                retry_base=self.retry_base,
                read_timeout=self.read_timeout,
            )
        except BaseException:
            browser.close()
            raise
        pending: set[Future[tuple[StoredFile, bool]]] = set()
        completed = False
        try:
            with (
                browser,
                ThreadPoolExecutor(max_workers=s.concurrency, thread_name_prefix="dl") as pool,
            ):
                site = CameraSite(browser, s)
                try:
                    for stream, day in plan:
                        if stream in self.summary.no_camera:
                            continue
                        pending = self._drain(pending, block=False)
                        self.summary.pages += 1
                        try:
                            found = site.discover(stream, day)
                        except NoCamera as exc:
                            # Not a flaky page: once per run, and the other streams go on.
                            # Health still reports the stream as stale.
                            self.summary.pages -= 1
                            self.summary.no_camera.append(stream)
                            self.reporter.note(f"{exc}; nothing to archive for it")
                            continue
                        except DiscoveryError as exc:
                            self.summary.pages_failed += 1
                            self.summary.failed += 1
                            self.summary.failures.append(f"page {exc}")
                            self.reporter.note(f"could not read the page for {exc}")
                            continue
                        swept = self.storage.sweep_temps(s.terminal, stream, f"{day:%Y-%m-%d}")
                        if swept:  # left by a killed run; their captures are fetched below
                            self.reporter.note(f"removed {swept} partial files of an earlier run")
                        skip, broken = self._had_days(stream, day, found)
                        todo = [f.capture for f in found if f.capture.url_ts not in skip]
                        self.summary.found += len(found)
                        self.summary.already += len(found) - len(todo)
                        self.summary.new += len(todo)
                        self.reporter.day_found(stream, day, len(found), len(todo))
                        for capture in todo:
                            replace = capture.url_ts in broken
                            future = pool.submit(self._download, cdn, capture, replace)
                            future.add_done_callback(self._completed.put)
                            pending.add(future)
                    browser.close_soon()  # Chromium quits while the last downloads finish
                    while pending:
                        pending = self._drain(pending, block=True)
                    completed = True
                except StorageError:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            cdn.close()
            self._flush(force=True)
            # The journal goes only once every file it names is known to be cataloged.
            if completed and self.catalog is not None and not self.summary.catalog_down:
                self.storage.clear_pending()
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def _drain(
        self, pending: set[Future[tuple[StoredFile, bool]]], block: bool
    ) -> set[Future[tuple[StoredFile, bool]]]:
        from dogcli.cdn import DownloadFailed

        if not pending:
            return pending
        done: list[Future[tuple[StoredFile, bool]]] = []
        with contextlib.suppress(queue.Empty):
            done.append(self._completed.get(block=block))
            while True:
                done.append(self._completed.get_nowait())
        for future in done:
            pending.discard(future)
            try:
                record, replace = future.result()
            except DownloadFailed as exc:
                self.summary.failed += 1
                self.summary.failures.append(str(exc))
                self.reporter.image_done(False)
                continue
            if record.variant == FULL:
                self.summary.full += 1
            else:
                self.summary.thumbnail += 1
            self.summary.bytes += record.bytes
            (self._replace if replace else self._buffer).append(record)
            self.reporter.image_done(True)
        self._flush()
        return pending

    def _download(self, cdn: CdnClient, capture: Capture, replace: bool) -> tuple[StoredFile, bool]:
        got = cdn.download(capture)
        record = self.storage.place(capture, got.variant, got.url, got.data, got.sha256)
        return record, replace

    def close(self) -> None:
        if self.catalog is not None and self._owns_catalog:
            self.catalog.close()


def by_stream(plan: Sequence[tuple[str, date]]) -> list[tuple[str, date]]:
    """Every day of a stream before the next stream, days in their given order: a change of
    stream reloads the camera page, which first loads today's History and only then the day
    asked for (two API calls instead of one)."""
    rank: dict[str, int] = {}
    for stream, _day in plan:
        rank.setdefault(stream, len(rank))
    return sorted(plan, key=lambda item: rank[item[0]])


def fetch_plan(
    settings: Settings,
    catalog: Catalog | None,
    streams: Sequence[str],
    max_days: int,
    now: datetime | None = None,
) -> tuple[list[tuple[str, date]], list[str]]:
    """Per stream: the day of its newest capture (or today) through today, last max_days."""
    today = site_today(settings, now)
    plan: list[tuple[str, date]] = []
    notes: list[str] = []
    for stream in streams:
        try:
            newest = catalog.newest_capture_time(settings.terminal, stream) if catalog else None
        except CatalogUnavailable:
            newest = None  # the collect job reports the outage
        first = newest.astimezone(settings.tz).date() if newest else today
        first = min(first, today)
        days = days_between(first, today)
        if len(days) > max_days:
            skipped = days[: len(days) - max_days]
            notes.append(
                f"{stream}: {len(skipped)} older day{'s' if len(skipped) > 1 else ''} not fetched "
                f"(run: dogcli backfill {skipped[0]}..{skipped[-1]})"
            )
            days = days[-max_days:]
        plan.extend((stream, day) for day in days)
    return plan, notes

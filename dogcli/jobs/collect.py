"""The collect job behind fetch and backfill: discover, download, store, catalog.

Discovery runs in the calling thread (one browser) while downloads of the days already
discovered run in a thread pool, so the page's API delay and the CDN overlap.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from dogcli.catalog.ledger import (
    FULL_SIZE,
    DayRead,
    DayState,
    Ledger,
    Wanted,
    overdue,
    settle_moment,
)
from dogcli.catalog.store import Catalog, open_catalog
from dogcli.config import Settings
from dogcli.model import clock
from dogcli.model.captures import FULL, Capture, capture_from_path
from dogcli.model.errors import CatalogUnavailable, DiscoveryError, NoCamera
from dogcli.sources.base import Discoverer, Downloader, Found
from dogcli.storage.local import Storage, StoredFile

log = logging.getLogger(__name__)


INTERRUPT_GRACE = 3.0  # seconds an interrupted run gives the downloads in flight


class _Cancelled(Exception):
    """A queued download of an interrupted run."""


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
    retried: int = 0  # remembered failures tried again without reading their page
    upgraded: int = 0  # thumbnails replaced by their full size

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

    def record_counts(self, run: Any) -> None:
        """Copy the counts so far into a run-journal entry (also of an interrupted run)."""
        run.found, run.new, run.failed, run.bytes = self.found, self.new, self.failed, self.bytes

    def record(self, run: Any) -> None:
        """Copy the counts and the outcome into a run-journal entry."""
        self.record_counts(run)
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
        if self.retried:
            parts.append(f"retried {self.retried}")
        if self.upgraded:
            parts.append(f"upgraded {self.upgraded} to full size")
        if self.no_camera:
            parts.append(f"no camera: {', '.join(self.no_camera)}")
        parts.append(f"{self.seconds:.1f}s")
        return ", ".join(parts)

    def as_json(self, command: str) -> dict[str, Any]:
        """What `--json` prints: the counts of line() and every failure."""
        return {
            "command": command,
            "outcome": self.outcome,
            "found": self.found,
            "new": self.new,
            "downloaded": self.downloaded,
            "full": self.full,
            "thumbnail": self.thumbnail,
            "already_had": self.already,
            "failed": self.failed,
            "deleted": 0,
            "recovered": self.recovered,
            "retried": self.retried,
            "upgraded": self.upgraded,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "no_camera": list(self.no_camera),
            "failures": list(self.failures),
            "errors": list(self.errors),
        }


def site_today(settings: Settings, now: datetime | None = None) -> date:
    return settings.zones.day_of(now or clock.now())


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class Collector:
    """Runs one collect job; owns the catalog, storage, CDN client and browser for its run."""

    def __init__(
        self,
        settings: Settings,
        reporter: Reporter | None = None,
        before_write: Callable[[], None] | None = None,
        summary: Summary | None = None,
        discoverer: Discoverer | None = None,
        downloader: Downloader | None = None,
        browser: Any = None,
    ) -> None:
        self.settings = settings
        # A Browser shared with the collectors of other terminals (theirs to close), else None.
        self.browser = browser
        self._no_camera: set[str] = set()
        self.zones = settings.zones
        self.reporter = reporter or QuietReporter()
        self.retry_base = settings.retry_base
        self.read_timeout = settings.read_timeout
        self.storage = Storage(settings.data_dir)
        # The caller's, filled as the run goes: an interrupted run still tells what it did.
        self.summary = summary if summary is not None else Summary()
        self.before_write = before_write  # the runner's check that the archive lock is held
        # Collaborators: by default Chromium on the camera page and the CDN client.
        self.discoverer = discoverer
        self.downloader = downloader
        self._stop = threading.Event()
        self.catalog: Catalog | None = None
        self._owns_catalog = False
        self._buffer: list[StoredFile] = []
        # Finished downloads, in completion order: waiting on the set of pending futures
        # instead (concurrent.futures.wait) costs O(pending) per call, O(n^2) per backfill.
        self._completed: queue.SimpleQueue[Future[tuple[StoredFile, bool]]] = queue.SimpleQueue()
        self._replace: list[StoredFile] = []
        # What each download stands for: (index of its page read, url_ts), or (-1, url_ts)
        # for a retry of a remembered capture.
        self._meta: dict[Future[tuple[StoredFile, bool]], tuple[int, str, str]] = {}
        self._reads: list[tuple[str, date, dict[str, str], dict[str, str], datetime]] = []
        self._retried: list[tuple[str, str, str]] = []  # (stream, url_ts, error or "")

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
            # A known capture whose file was replaced (a thumbnail by its full size) before
            # its row was: the row follows the file.
            replaced = [records[k] for k in keys if k in known]
            self.catalog.insert(replaced, self.zones.url, self.settings.batch_size, replace=True)
            for terminal in sorted({r.terminal for r in [*missing, *replaced]}):
                Ledger(self.catalog, terminal, self.zones).recount(
                    (r.stream, self._day_of(r.url_ts))
                    for r in [*missing, *replaced]
                    if r.terminal == terminal
                )
        except CatalogUnavailable as exc:
            self._catalog_failed(str(exc))
            return
        self.storage.clear_pending()
        if missing:
            self.summary.recovered += len(missing)
            self.reporter.note(
                f"cataloged {len(missing)} images left uncataloged by an earlier run"
            )

    def _day_of(self, url_ts: str) -> date:
        return self.zones.day_of(self.zones.to_utc(datetime.fromisoformat(url_ts)))

    def _flush(self, force: bool = False) -> None:
        if self.catalog is None or self.summary.catalog_down:
            return
        if not force and len(self._buffer) < self.settings.batch_size:
            return
        if self.before_write is not None:
            self.before_write()
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

    def run(self, plan: Sequence[tuple[str, date]], retries: Sequence[Wanted] = ()) -> Summary:
        """Read each (stream, day) page and download what is new; try `retries` again (a
        capture the ledger still wants, or the full size of a kept thumbnail) without their
        page; then record what was read in the ledger.

        Interrupted (Ctrl-C, SIGTERM, a full disk): queued downloads are cancelled, those in
        flight get INTERRUPT_GRACE seconds to finish (their files journaled and cataloged),
        the rest are discarded, and the interruption goes on up."""
        started = time.monotonic()
        s = self.settings
        plan = by_stream(plan)
        self.storage.ensure_writable()
        browser: Any = None
        discoverer = self.discoverer
        if discoverer is None and plan and self.browser is not None:
            from dogcli.sources.site.camera import CameraSite

            discoverer = CameraSite(self.browser, s)
        elif discoverer is None and plan:
            from dogcli.sources.site.camera import Browser, CameraSite

            binary, driver = s.browser_paths()
            browser = Browser(binary, driver, s.page_timeout, s.timezone, state_dir=s.data_dir)
            browser.start_soon()  # Chromium starts (a second or more) while the rest gets ready
            discoverer = CameraSite(browser, s)
        downloader = self.downloader
        try:
            if self.catalog is None and not self.summary.catalog_down:
                self.open_catalog()
            self.replay_pending()
            self.reporter.planned(len(plan))
            if downloader is None:
                downloader = self._cdn_client()
        except BaseException:
            if browser is not None:
                browser.close()
            raise
        pool = ThreadPoolExecutor(max_workers=s.concurrency, thread_name_prefix="dl")
        pending: set[Future[tuple[StoredFile, bool]]] = set()
        completed = False

        def submit(capture: Capture, replace: bool, thumbnail: bool, meta: tuple[int, str]) -> None:
            future = pool.submit(self._download, downloader, capture, replace, thumbnail)
            self._meta[future] = (meta[0], capture.stream, capture.url_ts)
            future.add_done_callback(self._completed.put)
            pending.add(future)

        try:
            for wanted in retries:
                capture = self.zones.capture(s.terminal, wanted.stream, wanted.url_ts)
                upgrade = wanted.want == FULL_SIZE
                submit(capture, upgrade, not upgrade, (-1, wanted.stream))
            for stream, day in plan:
                if stream in self._no_camera:
                    continue
                assert discoverer is not None
                pending = self._drain(pending, block=False)
                self.summary.pages += 1
                try:
                    found = discoverer.discover(stream, day)
                except NoCamera as exc:
                    # Not a flaky page: once per run, and the other streams go on.
                    # Health still reports the stream as stale.
                    self.summary.pages -= 1
                    self._no_camera.add(stream)
                    self.summary.no_camera.append(self._label(stream))
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
                listed = {f.capture.url_ts: f.capture.url(s.cdn_url, f.variant) for f in found}
                self._reads.append((stream, day, listed, {}, clock.now()))
                read = len(self._reads) - 1
                todo = [f.capture for f in found if f.capture.url_ts not in skip]
                self.summary.found += len(found)
                self.summary.already += len(found) - len(todo)
                self.summary.new += len(todo)
                self.reporter.day_found(stream, day, len(found), len(todo))
                for capture in todo:
                    submit(capture, capture.url_ts in broken, True, (read, stream))
            if browser is not None:
                browser.close_soon()  # Chromium quits while the last downloads finish
            while pending:
                pending = self._drain(pending, block=True)
            completed = True
        except BaseException:
            self._stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            deadline = time.monotonic() + INTERRUPT_GRACE
            while pending and (left := deadline - time.monotonic()) > 0:
                pending = self._drain(pending, block=True, timeout=left)
            raise
        finally:
            pool.shutdown(wait=completed)
            if browser is not None:
                browser.close()
            if self.downloader is None and downloader is not None:
                downloader.close()
            self._flush(force=True)
            self._record_ledger()
            # The journal goes only once every file it names is known to be cataloged.
            if completed and self.catalog is not None and not self.summary.catalog_down:
                self.storage.clear_pending()
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def _label(self, stream: str) -> str:
        """A stream as a summary names it: with its terminal when the run has several."""
        return f"{self.settings.terminal}:{stream}" if self.browser is not None else stream

    def refetch(self, captures: Sequence[Capture]) -> dict[tuple[str, str], str]:
        """Download captures again and put file and row in place, as a run's downloads do
        (verify --repair: missing or damaged files). Returns why each failed one failed, by
        (stream, url_ts)."""
        from dogcli.sources.base import DownloadFailed

        downloader = self.downloader or self._cdn_client()
        failures: dict[tuple[str, str], str] = {}
        try:
            with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="dl") as pool:
                futures = [(c, pool.submit(self._download, downloader, c, True)) for c in captures]
                for capture, future in futures:
                    try:
                        record, _replace = future.result()
                    except DownloadFailed as exc:
                        failures[(capture.stream, capture.url_ts)] = str(exc)
                        continue
                    self._replace.append(record)
                    self.summary.bytes += record.bytes
        finally:
            if self.downloader is None:
                downloader.close()
            self._flush(force=True)
        return failures

    def _cdn_client(self) -> Downloader:
        from dogcli.sources.cdn import CdnClient

        return CdnClient.for_settings(self.settings)

    def _drain(
        self,
        pending: set[Future[tuple[StoredFile, bool]]],
        block: bool,
        timeout: float | None = None,
    ) -> set[Future[tuple[StoredFile, bool]]]:
        from dogcli.sources.base import DownloadFailed, FullSizeMissing

        if not pending:
            return pending
        done: list[Future[tuple[StoredFile, bool]]] = []
        with contextlib.suppress(queue.Empty):
            done.append(self._completed.get(block=block, timeout=timeout))
            while True:
                done.append(self._completed.get_nowait())
        for future in done:
            pending.discard(future)
            read, stream, url_ts = self._meta.pop(future, (-2, "", ""))
            if future.cancelled():
                continue  # an interrupted run's queued download: the next run gets it
            try:
                record, replace = future.result()
            except _Cancelled:
                continue
            except DownloadFailed as exc:
                if read >= 0:
                    self._reads[read][3][url_ts] = str(exc)
                elif read == -1:
                    self._retried.append((stream, url_ts, str(exc)))
                    if isinstance(exc, FullSizeMissing):
                        continue  # a kept thumbnail's full size, not there yet: no failure
                self.summary.failed += 1
                self.summary.failures.append(str(exc))
                self.reporter.image_done(False)
                continue
            if read == -1:
                self._retried.append((stream, url_ts, ""))
                if replace:
                    self.summary.upgraded += 1
                else:
                    self.summary.retried += 1
            if record.variant == FULL:
                self.summary.full += 1
            else:
                self.summary.thumbnail += 1
            self.summary.bytes += record.bytes
            (self._replace if replace else self._buffer).append(record)
            self.reporter.image_done(True)
        self._flush()
        return pending

    def _download(
        self, cdn: Downloader, capture: Capture, replace: bool, thumbnail: bool = True
    ) -> tuple[StoredFile, bool]:
        if self._stop.is_set():
            raise _Cancelled
        got = cdn.download(capture, thumbnail)
        record = self.storage.place(capture, got.variant, got.url, got.data, got.sha256)
        return record, replace

    def _record_ledger(self) -> None:
        """What this run read and retried, into the ledger (after the rows it counts)."""
        if self.catalog is None or self.summary.catalog_down:
            return  # the next run reads those days again
        settle = self.settings.settle_hours
        reads = [
            DayRead(stream, day, listed, failures, at, at >= settle_moment(self.zones, day, settle))
            for stream, day, listed, failures, at in self._reads
        ]
        ledger = Ledger(self.catalog, self.settings.terminal, self.zones)
        try:
            ledger.record(reads)
            if self._retried:
                ledger.attempted(self._retried, clock.now())
        except CatalogUnavailable as exc:
            self._catalog_failed(str(exc))

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


@dataclass
class Plan:
    pages: list[tuple[str, date]] = field(default_factory=list)
    retries: list[Wanted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fetch_plan(
    settings: Settings,
    catalog: Catalog | None,
    streams: Sequence[str],
    max_days: int | None = None,
    now: datetime | None = None,
) -> Plan:
    """What a fetch does: per stream, read today and every day of the catch-up window that
    has not settled, from where the stream's archive begins (its first day in the ledger, or
    the day of its newest capture, or today); try again the captures the ledger still wants
    in the window (a failed download, the full size of a kept thumbnail of an unsettled day)
    without reading their page again. Older incomplete days are named, not read."""
    now = now or clock.now()
    today = site_today(settings, now)
    window = today - timedelta(days=settings.catchup_days)
    zones = settings.zones
    ledger = Ledger(catalog, settings.terminal, zones) if catalog is not None else None
    plan = Plan()
    states: dict[tuple[str, date], DayState] = {}
    try:
        if ledger is not None:
            states = {(d.stream, d.day): d for d in ledger.days(streams, since=window)}
    except CatalogUnavailable:
        ledger = None  # the collect job reports the outage; read today (and what we know)
    for stream in streams:
        first = _archive_start(settings, catalog, ledger, stream) or today
        start = max(window, min(first, today))
        days = [
            day
            for day in days_between(start, today)
            if day == today or not (state := states.get((stream, day))) or not state.settled
        ]
        if max_days is not None and len(days) > max_days:
            skipped = days[: len(days) - max_days]
            plan.notes.append(
                f"{stream}: {len(skipped)} older day{'s' if len(skipped) > 1 else ''} not read "
                f"(run: dogcli backfill {skipped[0]}..{skipped[-1]})"
            )
            days = days[-max_days:]
        plan.pages.extend((stream, day) for day in days)
    if ledger is None:
        return plan
    reading = set(plan.pages)
    try:
        for wanted in ledger.wanted(streams, since=window):
            state = states.get((wanted.stream, wanted.day))
            if wanted.want == FULL_SIZE:
                if state is None or not state.settled:
                    plan.retries.append(wanted)
            elif (wanted.stream, wanted.day) not in reading:
                plan.retries.append(wanted)
        older = [
            d
            for d in ledger.days(streams, until=window - timedelta(days=1))
            if overdue(d, zones, settings.settle_hours, now) is not None
        ]
    except CatalogUnavailable:
        return plan
    if older:
        names = ", ".join(sorted({f"{d.stream} {d.day}" for d in older})[:3])
        more = f" and {len(older) - 3} more" if len(older) > 3 else ""
        plan.notes.append(
            f"{len(older)} older day{'s are' if len(older) > 1 else ' is'} incomplete "
            f"({names}{more}): run dogcli backfill --gaps"
        )
    return plan


def _archive_start(
    settings: Settings, catalog: Catalog | None, ledger: Ledger | None, stream: str
) -> date | None:
    try:
        first = ledger.first_day(stream) if ledger is not None else None
        if first is None and catalog is not None:
            newest = catalog.newest_capture_time(settings.terminal, stream)
            first = settings.zones.day_of(newest) if newest else None
    except CatalogUnavailable:
        return None
    return first

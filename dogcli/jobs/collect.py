"""The collect job behind fetch and backfill: discover, download, and hand each image to the
archive's ingest; then record what was read in the ledger.

One loop over the Scope's terminals, one browser for all of them (started only when some page
is to be read), one CDN client. Discovery runs in the calling thread while the downloads of
the days already discovered run in a thread pool, so the page's API delay and the CDN overlap.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dogcli.archive.ingest import Ingest
from dogcli.archive.session import Session
from dogcli.catalog.captures import Catalog
from dogcli.catalog.days import FULL_SIZE, DayRead, settle_moment
from dogcli.config import Settings
from dogcli.jobs.plan import Plan, by_stream
from dogcli.jobs.summary import QuietReporter, Reporter, Summary
from dogcli.model import clock
from dogcli.model.captures import FULL, Capture
from dogcli.model.errors import DiscoveryError, NoCamera
from dogcli.model.scope import Scope
from dogcli.sources.base import Discoverer, Downloader, DownloadFailed, FullSizeMissing
from dogcli.storage.base import StoredFile

INTERRUPT_GRACE = 3.0  # seconds an interrupted run gives the downloads in flight

# Which pages and retries one terminal's part of the job has: (catalog or None, terminal,
# its chosen streams) -> Plan.
Planner = Callable[[Catalog | None, str, tuple[str, ...]], Plan]
Result = tuple[StoredFile, bool]  # a placed file, and whether its row replaces one


class _Cancelled(Exception):
    """A queued download of an interrupted run."""


@dataclass
class _Read:
    """One page read: what it listed, and why each of its downloads failed."""

    stream: str
    day: date
    listed: dict[str, str]
    at: datetime
    failures: dict[str, str] = field(default_factory=dict)


def collect(
    session: Session,
    scope: Scope,
    planner: Planner,
    reporter: Reporter | None = None,
    summary: Summary | None = None,
    before_write: Callable[[], None] | None = None,
    discoverer: Callable[[str], Discoverer] | None = None,
    downloader: Downloader | None = None,
) -> Summary:
    """Plan and run every terminal of the scope into one summary (the caller's, filled as
    the run goes: an interrupted run still tells what it did). `discoverer` gives the
    Discoverer of a terminal (default: Chromium on the camera page); `downloader` the CDN
    client (default: requests)."""
    settings = session.settings
    reporter = reporter or QuietReporter()
    summary = summary if summary is not None else Summary()
    started = time.monotonic()
    session.storage.ensure_writable()
    ingest = session.ingest(reporter.note, before_write)
    if ingest.errors:
        summary.catalog_down = True
    ingest.replay_pending()  # first: every terminal is planned with what it cataloged
    plans = []
    for terminal, streams in scope.by_terminal():
        plan = planner(ingest.catalog if not ingest.down else None, terminal, streams)
        for note in plan.notes:
            reporter.note(scope.prefix(terminal) + note)
        plans.append((terminal, plan))
    browser: Any = None
    if discoverer is None and any(plan.pages for _t, plan in plans):
        browser = _start_browser(settings)
        discoverer = _camera_sites(browser, settings)
    client = downloader

    def close_parts() -> None:
        """Browser and CDN client go before the last rows and the ledger are written."""
        if browser is not None:
            browser.close()
        if downloader is None and client is not None:
            client.close()

    try:
        reporter.planned(sum(len(plan.pages) for _t, plan in plans))
        if client is None:
            from dogcli.sources.cdn import CdnClient

            client = CdnClient.for_settings(settings)
        for index, (terminal, plan) in enumerate(plans):
            last = index == len(plans) - 1
            job = Collector(settings, ingest, terminal, reporter, summary, scope)
            job.run(plan, discoverer, client, browser if last else None,
                    close_parts if last else None)  # fmt: skip
    finally:
        close_parts()
        summary.recovered += ingest.recovered
        summary.errors.extend(e for e in ingest.errors if e not in summary.errors)
        summary.catalog_down = summary.catalog_down or ingest.down
        summary.seconds = time.monotonic() - started
    return summary


def _start_browser(settings: Settings) -> Any:
    from dogcli.sources.site.browser import Browser
    from dogcli.sources.site.executables import browser_paths

    binary, driver = browser_paths(settings)
    s = settings
    browser = Browser(binary, driver, s.page_timeout, s.timezone, state_dir=s.data_dir)
    browser.start_soon()  # Chromium starts (a second or more) while the rest gets ready
    return browser


def _camera_sites(browser: Any, settings: Settings) -> Callable[[str], Discoverer]:
    from dogcli.sources.site.page import CameraSite

    def site(terminal: str) -> Discoverer:
        return CameraSite(browser, settings, terminal)

    return site


class Collector:
    """One terminal's pages and retries, downloaded into the ingest."""

    def __init__(
        self,
        settings: Settings,
        ingest: Ingest,
        terminal: str,
        reporter: Reporter,
        summary: Summary,
        scope: Scope,
    ) -> None:
        self.settings = settings
        self.ingest = ingest
        self.terminal = terminal
        self.reporter = reporter
        self.summary = summary
        self.scope = scope
        self.zones = settings.zones
        self._stop = threading.Event()
        self._no_camera: set[str] = set()
        # Finished downloads, in completion order: waiting on the set of pending futures
        # instead (concurrent.futures.wait) costs O(pending) per call, O(n^2) per backfill.
        self._completed: queue.SimpleQueue[Future[Result]] = queue.SimpleQueue()
        # What each download stands for: (its page read or None for a retry, stream, url_ts).
        self._meta: dict[Future[Result], tuple[_Read | None, str, str]] = {}
        self._reads: list[_Read] = []
        self._retried: list[tuple[str, str, str]] = []  # (stream, url_ts, error or "")

    def run(
        self,
        plan: Plan,
        discoverer: Callable[[str], Discoverer] | None,
        downloader: Downloader,
        closing_browser: Any = None,
        close_parts: Callable[[], None] | None = None,
    ) -> None:
        """Read each (stream, day) page and download what is new; try the plan's retries (a
        capture the ledger still wants, or the full size of a kept thumbnail) without their
        page; then record what was read in the ledger.

        Interrupted (Ctrl-C, SIGTERM, a full disk): queued downloads are cancelled, those in
        flight get INTERRUPT_GRACE seconds to finish (their files journaled and cataloged),
        the rest are discarded, and the interruption goes on up."""
        pages = by_stream(plan.pages)
        site = discoverer(self.terminal) if discoverer is not None and pages else None
        pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="dl")
        pending: set[Future[Result]] = set()
        completed = False

        def submit(capture: Capture, replace: bool, thumbnail: bool, read: _Read | None) -> None:
            future = pool.submit(self._download, downloader, capture, replace, thumbnail)
            self._meta[future] = (read, capture.stream, capture.url_ts)
            future.add_done_callback(self._completed.put)
            pending.add(future)

        try:
            for wanted in plan.retries:
                capture = self.zones.capture(self.terminal, wanted.stream, wanted.url_ts)
                upgrade = wanted.want == FULL_SIZE
                submit(capture, upgrade, not upgrade, None)
            for stream, day in pages:
                if stream in self._no_camera:
                    continue
                assert site is not None
                pending = self._drain(pending, block=False)
                read = self._read_page(site, stream, day)
                if read is not None:
                    for capture, replace in read[1]:
                        submit(capture, replace, True, read[0])
            if closing_browser is not None:
                closing_browser.close_soon()  # Chromium quits while the last downloads finish
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
            if close_parts is not None:
                close_parts()
            self.ingest.finish(completed)
            self._record_ledger()

    def _read_page(
        self, site: Discoverer, stream: str, day: date
    ) -> tuple[_Read, list[tuple[Capture, bool]]] | None:
        """One page: what it lists that is new (with whether its row replaces a broken one)."""
        self.summary.pages += 1
        try:
            found = site.discover(stream, day)
        except NoCamera as exc:
            # Not a flaky page: once per run, and the other streams go on.
            # Health still reports the stream as stale.
            self.summary.pages -= 1
            self._no_camera.add(stream)
            self.summary.no_camera.append(self.scope.short_label(self.terminal, stream))
            self.reporter.note(f"{exc}; nothing to archive for it")
            return None
        except DiscoveryError as exc:
            self.summary.pages_failed += 1
            self.summary.failed += 1
            self.summary.failures.append(f"page {exc}")
            self.reporter.note(f"could not read the page for {exc}")
            return None
        swept = self.ingest.storage.sweep_temps(self.terminal, stream, day)
        if swept:  # left by a killed run; their captures are fetched below
            self.reporter.note(f"removed {swept} partial files of an earlier run")
        skip, broken = self.ingest.had_days(self.terminal, stream, day, found)
        cdn = self.settings.cdn_url
        read = _Read(stream, day, {f.capture.url_ts: f.capture.url(cdn, f.variant) for f in found},
                     clock.now())  # fmt: skip
        self._reads.append(read)
        todo = [f.capture for f in found if f.capture.url_ts not in skip]
        self.summary.found += len(found)
        self.summary.already += len(found) - len(todo)
        self.summary.new += len(todo)
        self.reporter.day_found(stream, day, len(found), len(todo))
        return read, [(c, c.url_ts in broken) for c in todo]

    def _drain(
        self, pending: set[Future[Result]], block: bool, timeout: float | None = None
    ) -> set[Future[Result]]:
        if not pending:
            return pending
        done: list[Future[Result]] = []
        with contextlib.suppress(queue.Empty):
            done.append(self._completed.get(block=block, timeout=timeout))
            while True:
                done.append(self._completed.get_nowait())
        for future in done:
            pending.discard(future)
            read, stream, url_ts = self._meta.pop(future, (None, "", ""))
            if future.cancelled():
                continue  # an interrupted run's queued download: the next run gets it
            try:
                record, replace = future.result()
            except _Cancelled:
                continue
            except DownloadFailed as exc:
                if read is not None:
                    read.failures[url_ts] = str(exc)
                else:
                    self._retried.append((stream, url_ts, str(exc)))
                    if isinstance(exc, FullSizeMissing):
                        continue  # a kept thumbnail's full size, not there yet: no failure
                self.summary.failed += 1
                self.summary.failures.append(str(exc))
                self.reporter.image_done(False)
                continue
            if read is None:
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
            self.ingest.add(record, replace)
            self.reporter.image_done(True)
        return pending

    def _download(
        self, cdn: Downloader, capture: Capture, replace: bool, thumbnail: bool = True
    ) -> Result:
        if self._stop.is_set():
            raise _Cancelled
        return self.ingest.place(cdn.download(capture, thumbnail)), replace

    def _record_ledger(self) -> None:
        settle = self.settings.settle_hours
        reads = [
            DayRead(
                r.stream,
                r.day,
                r.listed,
                r.failures,
                r.at,
                r.at >= settle_moment(self.zones, r.day, settle),
            )
            for r in self._reads
        ]
        self.ingest.record_reads(self.terminal, reads, self._retried, clock.now())

"""Retention: delete captures older than N days, files and rows together.

Order per batch: files first, then rows. A crash in between leaves rows whose files are gone,
all older than the cutoff, which the next cleanup selects again and finishes; no capture
inside the retention is ever touched. A final sweep removes files of expired days that have
no row (left by an older crash or copied in by hand) and the emptied day folders.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from dogcli.archive.session import Archive, Session
from dogcli.catalog.captures import Catalog
from dogcli.catalog.ledger import Ledger
from dogcli.config import Settings
from dogcli.model import clock, layout
from dogcli.model.errors import UsageError
from dogcli.storage.local import LocalStorage, PathRefused, disk_used

log = logging.getLogger(__name__)
BATCH = 1000


@dataclass
class CleanupResult:
    cutoff: date  # captures of days before this one (site time) are expired
    dry_run: bool
    deleted: int = 0
    bytes: int = 0
    orphans: int = 0  # expired files that had no row
    folders: int = 0
    disk_percent_before: float | None = None
    disk_percent_after: float | None = None
    seconds: float = 0.0
    error: str = ""
    skipped: list[Path] = field(default_factory=list)  # symlinks met, never followed

    def skip(self, link: Path) -> None:
        """A symlinked folder is left as it is, said once a run; the rest goes on."""
        if link not in self.skipped:
            self.skipped.append(link)
            log.warning("skipped %s: a symlink, which cleanup never follows", link)

    @property
    def ok(self) -> bool:
        return not self.error

    def add(self, other: CleanupResult) -> CleanupResult:
        """Another terminal's cleanup added to this one."""
        self.deleted += other.deleted
        self.bytes += other.bytes
        self.orphans += other.orphans
        self.folders += other.folders
        self.seconds += other.seconds
        self.skipped += [link for link in other.skipped if link not in self.skipped]
        if other.disk_percent_after is not None:
            if self.disk_percent_before is None:
                self.disk_percent_before = other.disk_percent_before
            self.disk_percent_after = other.disk_percent_after
        self.error = "; ".join(e for e in (self.error, other.error) if e)
        return self


def _percent(usage: tuple[int, int]) -> float:
    used, total = usage
    return 100.0 * used / total if total else 0.0


def check_options(
    settings: Settings, retention_days: int | None, max_disk_percent: float | None
) -> int:
    days = settings.retention_days if retention_days is None else retention_days
    if days < 1:
        raise UsageError("--retention-days must be at least 1")
    if max_disk_percent is not None and not 1 <= max_disk_percent <= 100:
        raise UsageError("--max-disk-percent must be between 1 and 100")
    return days


def run_cleanup(
    session: Session,
    terminal: str,
    retention_days: int | None = None,
    dry_run: bool = False,
    max_disk_percent: float | None = None,
    now: datetime | None = None,
    disk_usage: Callable[[Path], tuple[int, int]] = disk_used,
) -> CleanupResult:
    settings, storage, catalog = session.settings, session.storage, session.catalog()
    days = check_options(settings, retention_days, max_disk_percent)
    started = time.monotonic()
    now = (now or clock.now()).astimezone(UTC)
    today = now.astimezone(settings.tz).date()
    cutoff_day = today - timedelta(days=days)
    cutoff = datetime.combine(cutoff_day, dtime(0), tzinfo=settings.tz)
    result = CleanupResult(cutoff=cutoff_day, dry_run=dry_run)

    if dry_run:
        result.deleted, result.bytes = catalog.count_before(terminal, cutoff)
        files = len(_expired_files(storage, terminal, cutoff_day, result))
        result.orphans = max(0, files - result.deleted)
    else:
        _delete_before(catalog, storage, terminal, cutoff, result)
        result.orphans, result.folders = _sweep(storage, terminal, cutoff_day, result)
        # The ledger of the deleted days goes with them: the archive now begins at cutoff.
        Ledger(catalog, terminal, settings.zones).forget_before(cutoff_day)

    if max_disk_percent is not None and settings.data_dir.exists():
        touched = _free_disk(catalog, storage, terminal, settings.data_dir, max_disk_percent,
                             now, disk_usage, result)  # fmt: skip
        Ledger(catalog, terminal, settings.zones).recount(touched)
    result.seconds = time.monotonic() - started
    return result


def _free_disk(
    catalog: Catalog,
    storage: LocalStorage,
    terminal: str,
    data_dir: Path,
    max_percent: float,
    now: datetime,
    disk_usage: Callable[[Path], tuple[int, int]],
    result: CleanupResult,
) -> set[tuple[str, date]]:
    """Delete the oldest captures until the disk is at most max_percent full, never any of
    the last 24 hours: those are what the monitors watch. Returns the (stream, day)s that
    lost captures (by their folder, and the day before it, which an earlier layout's UTC
    date folder may also hold)."""
    usage = disk_usage(data_dir)
    result.disk_percent_before = result.disk_percent_after = _percent(usage)
    touched: set[tuple[str, date]] = set()
    if result.dry_run:
        return touched
    floor = now - timedelta(hours=24)
    while _percent(usage) > max_percent:
        used, total = usage
        need = used - int(max_percent / 100 * total)
        rows = catalog.oldest_before(terminal, floor, 500)
        chosen: list[tuple[int, str, int]] = []
        freed = 0
        for row in rows:  # oldest first, just enough of them
            if freed >= need:
                break
            chosen.append(row)
            freed += row[2]
        if not chosen:
            log.warning("disk still above %.0f%% with only the last 24 hours left", max_percent)
            break
        deleted = 0
        for _id, path, size in chosen:
            if _delete(storage, path, result):
                deleted += 1
            else:
                freed -= size  # its file, behind a symlink, is still there
            parts = path.split("/")
            day = layout.parse_day_name(parts[3]) if len(parts) > 3 else None
            if day is not None:
                touched.update({(parts[2], day), (parts[2], day - timedelta(days=1))})
        catalog.delete_ids([row_id for row_id, _p, _s in chosen])
        result.deleted += deleted
        result.bytes += freed
        usage = disk_usage(data_dir)
    result.disk_percent_after = _percent(usage)
    _sweep_empty(storage, terminal, result)
    return touched


def _delete_before(
    catalog: Catalog, storage: LocalStorage, terminal: str, before: datetime, result: CleanupResult
) -> None:
    while _delete_batch(catalog, storage, terminal, before, result, BATCH):
        pass


def _delete_batch(
    catalog: Catalog,
    storage: LocalStorage,
    terminal: str,
    before: datetime,
    result: CleanupResult,
    limit: int,
) -> bool:
    rows = catalog.oldest_before(terminal, before, limit)
    if not rows:
        return False
    for _id, path, size in rows:
        if _delete(storage, path, result):
            result.deleted += 1
            result.bytes += size
    # Rows behind a symlink go too: else every batch selected them again, and retention
    # stopped there (the run exited 1 every day, deleting nothing).
    catalog.delete_ids([row_id for row_id, _p, _s in rows])
    return True


def _delete(storage: LocalStorage, path: str, result: CleanupResult) -> bool:
    """Delete one capture's file; False when its folder is a symlink (skipped, untouched)."""
    try:
        storage.delete(path)
    except PathRefused as exc:
        if exc.link is None:
            raise
        result.skip(exc.link)
        return False
    return True


def _linked(path: Path, result: CleanupResult) -> bool:
    if path.is_symlink():
        result.skip(path)
        return True
    return False


def _day_folders(
    storage: LocalStorage, terminal: str, result: CleanupResult
) -> list[tuple[date, Path]]:
    """The day folders of a terminal; none reached through a symlink (a day, stream or
    terminal folder linked elsewhere is said once and left alone)."""
    images = storage.root / layout.IMAGES
    base = storage.root / layout.terminal_dir(terminal)
    out: list[tuple[date, Path]] = []
    if _linked(images, result) or _linked(base, result) or not base.is_dir():
        return out
    for stream_dir in sorted(base.iterdir()):
        if _linked(stream_dir, result) or not stream_dir.is_dir():
            continue
        for day_dir in sorted(stream_dir.iterdir()):
            day = layout.parse_day_name(day_dir.name)
            if day is not None and not _linked(day_dir, result):
                out.append((day, day_dir))
    return out


def _expired_files(
    storage: LocalStorage, terminal: str, cutoff_day: date, result: CleanupResult
) -> list[Path]:
    files: list[Path] = []
    for day, folder in _day_folders(storage, terminal, result):
        if day < cutoff_day:
            files.extend(p for p in folder.iterdir() if p.is_file())
    return files


def _sweep(
    storage: LocalStorage, terminal: str, cutoff_day: date, result: CleanupResult
) -> tuple[int, int]:
    orphans = 0
    for path in _expired_files(storage, terminal, cutoff_day, result):
        try:
            path.unlink()  # a symlinked file: the link goes, never what it points to
            orphans += 1
        except FileNotFoundError:
            pass
    return orphans, _sweep_empty(storage, terminal, result)


def _sweep_empty(storage: LocalStorage, terminal: str, result: CleanupResult) -> int:
    removed = 0
    for _day, folder in _day_folders(storage, terminal, result):
        try:
            os.rmdir(folder)
            removed += 1
        except OSError:
            continue
    return removed


def cleanup_command(
    settings: Settings,
    retention_days: int | None = None,
    dry_run: bool = False,
    max_disk_percent: float | None = None,
    wait: float = 0.0,
    metrics_file: Path | None = None,
) -> CleanupResult:
    """cleanup as the CLI and the timer run it: locked, journaled, with metrics, through every
    terminal of the archive."""
    check_options(settings, retention_days, max_disk_percent)
    scope = settings.scope()
    with (
        Archive.open(settings) as session,
        session.run("cleanup", settings.streams, wait, metrics_file, needs_catalog=True) as ctx,
    ):
        result: CleanupResult | None = None
        for terminal in scope.terminals:
            done = run_cleanup(session, terminal, retention_days, dry_run, max_disk_percent)
            result = done if result is None else result.add(done)
        assert result is not None
        ctx.run.deleted, ctx.run.bytes = (0, 0) if dry_run else (result.deleted, result.bytes)
        ctx.run.outcome = "ok"
    return result

"""verify: compare the catalog with the files on disk, and optionally repair what differs.

What is checked (for the configured terminal, optionally from a day on):

- every catalog row: its file exists at the path its identity gives, with the row's size
  (and, with ``deep``, the row's sha256);
- every file under ``images/{terminal}/{stream}/{day}/``: a capture file the catalog lacks is
  *uncataloged* when it is a complete JPEG, *invalid* otherwise; temporary files of dead runs
  are *leftovers*; anything else (unknown names, folders, files in the wrong day) is
  *unexpected*.

Repair downloads missing, corrupt and invalid captures again (full size first, like fetch),
catalogs uncataloged files, deletes leftovers and moves unexpected files to
``{DATA_DIR}/quarantine/`` (never deletes what a person may have put there). An uncataloged
file is cataloged from the pending journal when it has its record (same size and sha256);
otherwise the CDN is asked: when it serves the same bytes, the row records that variant and
URL; when it serves other bytes, those replace the file; when it cannot answer, the row records
variant ``unknown`` and no URL rather than a guess.

A file named by the earlier layout (``{stream}_{URL stamp}.jpg`` in the folder of the stamp's
date, from before URL stamps were known to be UTC) is *layout*: repair renames it to its
place (``{local day}/{stream}_{UTC time}Z.jpg``), then points its row there; a row whose
file is in place under another path is *path*, and repair points it there. Either step may be
cut short by a crash: the next verify finds the other half and finishes it.

Disk paths always come from a capture's identity, never from a row's ``path`` column, so a
damaged catalog cannot make verify read or write outside the data dir.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dogcli.catalog.ledger import Ledger
from dogcli.catalog.models import CaptureRow
from dogcli.catalog.store import Catalog
from dogcli.config import NAME_RE, Settings
from dogcli.jobs.collect import Collector
from dogcli.model import clock
from dogcli.model.captures import STAMP_FORMAT, Capture
from dogcli.model.errors import StorageError, UsageError
from dogcli.sources.base import Downloaded, DownloadFailed
from dogcli.sources.cdn import CdnClient
from dogcli.storage.local import TMP_PREFIX, Storage, StoredFile, is_jpeg, is_stale_temp

log = logging.getLogger(__name__)

UNKNOWN_VARIANT = "unknown"
QUARANTINE = "quarantine"
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Problem kinds, in the order they are reported.
KINDS = ("missing", "size", "sha256", "path", "layout", "invalid", "uncataloged", "leftover",
         "unexpected", "bad_row")  # fmt: skip
DOWNLOAD_KINDS = frozenset({"missing", "size", "sha256", "invalid"})


@dataclass(frozen=True)
class Problem:
    kind: str
    path: str  # relative to the data dir
    detail: str = ""
    stream: str | None = None
    url_ts: str | None = None


@dataclass
class VerifyReport:
    repair: bool
    deep: bool
    since: date | None
    rows: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)
    downloaded: int = 0
    cataloged: int = 0
    removed: int = 0
    quarantined: int = 0
    moved: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: VerifyReport) -> VerifyReport:
        """Another terminal's report added to this one."""
        for name in ("rows", "files", "downloaded", "cataloged", "removed", "quarantined",
                     "moved", "seconds"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems
        self.failures += other.failures
        return self

    @property
    def ok(self) -> bool:
        """Nothing wrong (verify), or everything wrong was repaired (verify --repair)."""
        return not self.failures if self.repair else not self.problems

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for problem in self.problems:
            counts[problem.kind] += 1
        return {kind: n for kind, n in counts.items() if n}

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "repair": self.repair,
            "deep": self.deep,
            "since": self.since.isoformat() if self.since else None,
            "rows": self.rows,
            "files": self.files,
            "counts": self.counts(),
            "problems": [asdict(p) for p in self.problems],
            "repaired": {
                "downloaded": self.downloaded,
                "cataloged": self.cataloged,
                "removed": self.removed,
                "quarantined": self.quarantined,
                "moved": self.moved,
            },
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
        }

    def lines(self, limit: int = 50) -> list[str]:
        how = "sizes and sha256" if self.deep else "sizes"
        counts = self.counts()
        head = f"verify: {self.rows} rows, {self.files} files checked ({how})"
        if self.since:
            head += f" from {self.since}"
        if counts:
            head += f"; {len(self.problems)} problems: " + ", ".join(
                f"{n} {kind}" for kind, n in counts.items()
            )
        else:
            head += "; catalog and disk agree"
        out = [f"{head}, {self.seconds:.1f}s"]
        for problem in self.problems[:limit]:
            what = f"  {problem.kind}: {problem.path}"
            out.append(f"{what} ({problem.detail})" if problem.detail else what)
        if len(self.problems) > limit:
            out.append(f"  ... and {len(self.problems) - limit} more")
        if self.repair:
            out.append(
                f"repaired: downloaded {self.downloaded}, cataloged {self.cataloged}, "
                f"moved {self.moved}, removed {self.removed} leftovers, "
                f"quarantined {self.quarantined}, "
                f"failed {len(self.failures)}"
            )
            out.extend(f"  failed: {failure}" for failure in self.failures[:limit])
        return out


def parse_since(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"bad --since {text!r}: use YYYY-MM-DD") from None


@dataclass(frozen=True)
class _Row:
    stream: str
    url_ts: str
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class _File:
    stream: str
    url_ts: str
    rel_path: str
    size: int
    place: str  # where the file belongs: differs from rel_path for the earlier layout


# Hot paths (100,000 files and rows) parse names with regular expressions and string slices:
# strptime would cost several seconds. Each day folder's date is validated once, and the
# local day of an hour is computed once.
_FILE_RE = re.compile(r"^([a-z0-9_]+)_(\d{8})T([01]\d|2[0-3])([0-5]\d)([0-5]\d)(Z?)\.jpg$")
_STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)$")


class Verifier:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.storage = Storage(settings.data_dir)
        self.terminal = settings.terminal
        self.zones = settings.zones
        self._utc_urls = settings.url_timezone in ("UTC", "Etc/UTC")
        self._days: dict[str, str] = {}  # UTC hour -> local day

    # -- identities without strptime -------------------------------------------------------

    def _local_day(self, utc_hour: str) -> str:
        """The local day (YYYY-MM-DD) of a UTC hour given as YYYY-MM-DDTHH."""
        day = self._days.get(utc_hour)
        if day is None:
            moment = datetime.fromisoformat(utc_hour + ":00:00+00:00")
            day = self._days[utc_hour] = f"{self.zones.day_of(moment):%Y-%m-%d}"
        return day

    def _utc(self, url_ts: str) -> str:
        """A URL stamp as a UTC YYYY-MM-DDTHH:MM:SS."""
        if self._utc_urls:
            return url_ts
        return self.zones.to_utc(datetime.fromisoformat(url_ts)).strftime(STAMP_FORMAT)

    def _stamp(self, utc: str) -> str:
        if self._utc_urls:
            return utc
        return self.zones.stamp(datetime.fromisoformat(utc + "+00:00"))

    def _place(self, stream: str, url_ts: str) -> str:
        """Where a capture's file belongs (Capture.rel_path, from strings)."""
        u = self._utc(url_ts)
        return (
            f"images/{self.terminal}/{stream}/{self._local_day(u[:13])}/"
            f"{stream}_{u[:4]}{u[5:7]}{u[8:10]}T{u[11:13]}{u[14:16]}{u[17:19]}Z.jpg"
        )

    def capture(self, stream: str, url_ts: str) -> Capture:
        return self.zones.capture(self.terminal, stream, url_ts)

    # -- what the catalog says ---------------------------------------------------------------

    def _rows(self, since: date | None) -> list[_Row]:
        cols = (CaptureRow.stream, CaptureRow.url_ts, CaptureRow.path, CaptureRow.bytes,
                CaptureRow.sha256)  # fmt: skip
        query = select(*cols).where(CaptureRow.terminal == self.terminal)
        if since is not None:
            query = query.where(CaptureRow.captured_at >= self.zones.day_bounds(since)[0])

        def run() -> list[_Row]:
            with self.catalog.engine.connect() as conn:
                return [_Row(*row) for row in conn.execute(query)]

        return self.catalog.retry(run)

    # -- what the disk holds -------------------------------------------------------------------

    def _scan(self, since: date | None, problems: list[Problem]) -> dict[tuple[str, str], _File]:
        files: dict[tuple[str, str], _File] = {}
        base = self.storage.root / "images" / self.terminal
        prefix = f"images/{self.terminal}"
        now = time.time()
        for stream_entry in _entries(base):
            if not stream_entry.is_dir(follow_symlinks=False):
                problems.append(Problem("unexpected", f"{prefix}/{stream_entry.name}",
                                        "not a stream folder"))  # fmt: skip
                continue
            stream = stream_entry.name
            streams_ok = NAME_RE.match(stream) is not None
            for day_entry in _entries(Path(stream_entry.path)):
                rel_day = f"{prefix}/{stream}/{day_entry.name}"
                day = _day(day_entry.name) if day_entry.is_dir(follow_symlinks=False) else None
                if day is None:
                    problems.append(Problem("unexpected", rel_day, "not a day folder"))
                    continue
                # A folder of the earlier layout is a UTC date: its files may be of the local
                # day before it. Each file's own local day is compared with `since` below.
                if since is not None and day < since - timedelta(days=1):
                    continue
                compact_day = day_entry.name.replace("-", "")
                for entry in _entries(Path(day_entry.path), ordered=False):
                    name = entry.name
                    rel = f"{rel_day}/{name}"
                    if name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                        if is_stale_temp(Path(entry.path), now):
                            problems.append(Problem("leftover", rel, "temporary file of a run"))
                        continue
                    m = _FILE_RE.match(name)
                    is_file = streams_ok and entry.is_file(follow_symlinks=False)
                    if m is None or m[1] != stream or not is_file:
                        problems.append(Problem("unexpected", rel, "not a capture file"))
                        continue
                    d = m[2]
                    moment = f"{d[:4]}-{d[4:6]}-{d[6:]}T{m[3]}:{m[4]}:{m[5]}"
                    try:
                        if m[6]:  # {UTC time}Z in the folder of its local day
                            url_ts = self._stamp(moment)
                            place = rel
                            at_home = self._local_day(moment[:13]) == day_entry.name
                        else:  # the earlier layout: {URL stamp} in the folder of its date
                            url_ts = moment
                            place = self._place(stream, url_ts)
                            at_home = d == compact_day
                    except ValueError:  # no such date (20250231)
                        problems.append(Problem("unexpected", rel, "not a capture file"))
                        continue
                    if since is not None and place.split("/")[3] < f"{since:%Y-%m-%d}":
                        continue
                    if not at_home:
                        problems.append(Problem("unexpected", rel, "in another day's folder"))
                        continue
                    size = entry.stat(follow_symlinks=False).st_size
                    key = (stream, url_ts)
                    if key in files and files[key].rel_path == files[key].place:
                        # The same capture in both layouts (a rename cut short): keep the new.
                        problems.append(Problem("unexpected", rel, "a second copy"))
                        continue
                    if key in files:
                        problems.append(Problem("unexpected", files[key].rel_path, "a second copy"))
                    files[key] = _File(stream, url_ts, rel, size, place)
        return files

    # -- the comparison ------------------------------------------------------------------------

    def check(self, since: date | None, deep: bool) -> tuple[VerifyReport, dict[str, Any]]:
        """The report, plus what repair needs: captures to download, files to catalog."""
        report = VerifyReport(repair=False, deep=deep, since=since)
        problems: list[Problem] = []
        files = self._scan(since, problems)
        rows = self._rows(since)
        report.rows, report.files = len(rows), len(files)
        to_download: dict[tuple[str, str], Capture] = {}
        to_catalog: list[_File] = []
        valid_days: dict[str, bool] = {}
        valid_streams: dict[str, bool] = {}
        to_move: list[tuple[_Row | None, _File]] = []
        for row in rows:
            key = (row.stream, row.url_ts)
            m = _STAMP_RE.match(row.url_ts)
            ok = m is not None and _cached(valid_days, m[1], _day)
            ok = ok and _cached(valid_streams, row.stream, NAME_RE.match)
            if not ok:
                problems.append(Problem("bad_row", row.path[:200], "invalid stream or timestamp",
                                        row.stream, row.url_ts))  # fmt: skip
                continue
            found = files.pop(key, None)
            place = self._place(*key)
            problem = self._check_row(row, place, found, deep)
            if problem is not None:
                problems.append(problem)
                to_download[key] = self.capture(*key)
            elif found is not None and (found.rel_path != place or row.path != place):
                if found.rel_path != place:
                    detail = f"earlier layout; belongs at {place}"
                    problems.append(Problem("layout", found.rel_path, detail, *key))
                else:
                    problems.append(Problem("path", place, f"row says {row.path[:200]!r}", *key))
                to_move.append((row, found))
        for key, found in sorted(files.items()):  # on disk, not in the catalog
            data = self._read(found.rel_path)
            if data is not None and is_jpeg(data):
                problems.append(Problem("uncataloged", found.rel_path, "", *key))
                to_catalog.append(found)
                if found.rel_path != found.place:
                    detail = f"earlier layout; belongs at {found.place}"
                    problems.append(Problem("layout", found.rel_path, detail, *key))
                    to_move.append((None, found))
            else:
                problems.append(Problem("invalid", found.rel_path, "not a complete JPEG", *key))
                to_download[key] = self.capture(*key)
        order = {kind: i for i, kind in enumerate(KINDS)}
        report.problems = sorted(problems, key=lambda p: (order[p.kind], p.path))
        return report, {"download": to_download, "catalog": to_catalog, "move": to_move}

    def _check_row(
        self, row: _Row, rel_path: str, found: _File | None, deep: bool
    ) -> Problem | None:
        key = (row.stream, row.url_ts)
        if found is None:
            return Problem("missing", rel_path, "cataloged, no file", *key)
        if found.size != row.bytes:
            return Problem("size", found.rel_path, f"{found.size} bytes, row says {row.bytes}",
                           *key)  # fmt: skip
        if deep:
            data = self._read(found.rel_path)
            digest = hashlib.sha256(data).hexdigest() if data is not None else ""
            if digest != row.sha256:
                return Problem("sha256", found.rel_path, "content differs from the row", *key)
        return None

    def _read(self, rel_path: str) -> bytes | None:
        """A file's bytes; rel_path is always built from a validated identity."""
        try:
            with open(os.path.join(self.storage.root, rel_path), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    # -- repair ----------------------------------------------------------------------------

    def repair(self, report: VerifyReport, plan: dict[str, Any]) -> None:
        report.repair = True
        s = self.settings
        replace: list[StoredFile] = []
        to_download: dict[tuple[str, str], Capture] = plan["download"]
        moved = self._move(plan["move"], report)
        journal = {
            (r.stream, r.url_ts): r for r in self.storage.pending() if r.terminal == self.terminal
        }
        confirm: list[_File] = []
        for original in plan["catalog"]:
            found = moved.get(original.rel_path, original)
            record = journal.get((found.stream, found.url_ts))
            data = self._read(found.rel_path) or b""
            if (record is not None and record.path in (original.rel_path, found.rel_path)
                    and record.bytes == len(data)
                    and record.sha256 == hashlib.sha256(data).hexdigest()):  # fmt: skip
                replace.append(dataclasses.replace(record, path=found.rel_path))
            else:
                confirm.append(found)
        invalid = {(p.stream, p.url_ts): p.path for p in report.problems if p.kind == "invalid"}
        if to_download:
            # The same pipeline as a fetch's downloads: journal, atomic file, row replaced.
            collector = Collector(s)
            collector.use_catalog(self.catalog)
            failed = collector.refetch(list(to_download.values()))
            report.downloaded += len(to_download) - len(failed)
            for key, why in failed.items():
                if key in invalid:  # junk with a capture's name: not worth keeping
                    self._quarantine(invalid[key], report)
                report.failures.append(f"{key[0]} {key[1]}: {why}")
        if confirm:
            with CdnClient.for_settings(s) as cdn, \
                    ThreadPoolExecutor(max_workers=s.concurrency) as pool:  # fmt: skip
                confirms = list(
                    pool.map(lambda f: _try(cdn, self.capture(f.stream, f.url_ts)), confirm)
                )
            for found, got in zip(confirm, confirms, strict=True):
                data = self._read(found.rel_path) or b""
                digest = hashlib.sha256(data).hexdigest()
                if isinstance(got, str):
                    log.warning("%s: the CDN cannot confirm it (%s); variant unknown",
                                found.rel_path, got)  # fmt: skip
                    replace.append(self._record(found, UNKNOWN_VARIANT, "", data, digest))
                elif got.sha256 == digest:
                    replace.append(self._record(found, got.variant, got.url, data, digest))
                else:
                    replace.append(self._store(got))
                    report.downloaded += 1
        if replace:
            self.catalog.insert(replace, self.zones.url, s.batch_size, replace=True)
            report.cataloged += sum(1 for r in replace if (r.stream, r.url_ts) not in to_download)
        for problem in report.problems:
            if problem.kind == "leftover":
                with contextlib.suppress(OSError):
                    self.storage.abspath(problem.path).unlink()
                    report.removed += 1
            elif problem.kind == "unexpected":
                self._quarantine(problem.path, report)

    def _move(
        self, moves: list[tuple[_Row | None, _File]], report: VerifyReport
    ) -> dict[str, _File]:
        """Files of the earlier layout to their place, then their rows (rename first: a crash
        in between leaves a row whose file is in place, which the next verify points there).
        Returns the moved files by their old path."""
        moved: dict[str, _File] = {}
        paths: list[tuple[str, str, str]] = []
        for row, found in moves:
            if found.rel_path != found.place:
                try:
                    target = self.storage.abspath(found.place)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(self.storage.abspath(found.rel_path), target)
                except (OSError, StorageError) as exc:
                    report.failures.append(f"cannot move {found.rel_path}: {exc}")
                    continue
                self.storage.remove_empty_dirs(found.rel_path.rsplit("/", 1)[0])
                moved[found.rel_path] = dataclasses.replace(found, rel_path=found.place)
                report.moved += 1
            if row is not None:
                paths.append((found.stream, found.url_ts, found.place))
        if paths:
            self.catalog.set_paths(self.terminal, paths)
        return moved

    def _store(self, got: Downloaded) -> StoredFile:
        return self.storage.place(got.capture, got.variant, got.url, got.data, got.sha256)

    def _record(self, found: _File, variant: str, url: str, data: bytes, digest: str) -> StoredFile:
        """A row for a file already in place; downloaded_at is when the file was written."""
        written = clock.now()
        with contextlib.suppress(OSError):
            mtime = (self.storage.root / found.rel_path).stat().st_mtime
            written = datetime.fromtimestamp(mtime, UTC)
        return StoredFile(self.terminal, found.stream, found.url_ts, variant, found.rel_path,
                          len(data), digest, url, written.isoformat())  # fmt: skip

    def _quarantine(self, rel_path: str, report: VerifyReport) -> None:
        source = self.storage.root / rel_path
        target = self.storage.root / QUARANTINE / rel_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target = target.with_name(f"{target.name}.{int(time.time())}")
            shutil.move(str(source), str(target))
        except OSError as exc:
            report.failures.append(f"cannot move {rel_path} to {QUARANTINE}/: {exc.strerror}")
            return
        report.quarantined += 1


def _try(cdn: CdnClient, capture: Capture) -> Downloaded | str:
    try:
        return cdn.download(capture)
    except DownloadFailed as exc:
        return str(exc)


def _entries(folder: Path, ordered: bool = True) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            yield from sorted(it, key=lambda e: e.name) if ordered else list(it)
    except (FileNotFoundError, NotADirectoryError):
        return


def _cached(cache: dict[str, bool], key: str, check: Any) -> bool:
    if key not in cache:
        cache[key] = check(key) is not None
    return cache[key]


def _day(name: str) -> date | None:
    if not _DAY_RE.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def run_verify(
    settings: Settings,
    catalog: Catalog,
    repair: bool = False,
    since: date | None = None,
    deep: bool = False,
) -> VerifyReport:
    started = time.monotonic()
    verifier = Verifier(settings, catalog)
    report, plan = verifier.check(since, deep)
    if repair:
        verifier.repair(report, plan)
        # The ledger's counts are made again from the captures table, which now matches
        # the disk (what was read and is still wanted is kept).
        Ledger(catalog, settings.terminal, settings.zones).rebuild()
    report.seconds = time.monotonic() - started
    return report

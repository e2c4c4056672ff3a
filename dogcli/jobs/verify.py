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

Disk paths always come from a capture's identity, never from a row's ``path`` column, so a
damaged catalog cannot make verify read or write outside the data dir.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dogcli.captures import Capture, make_capture
from dogcli.catalog.models import CaptureRow
from dogcli.catalog.store import Catalog
from dogcli.cdn import CdnClient, Downloaded, DownloadFailed
from dogcli.errors import UsageError
from dogcli.settings import NAME_RE, Settings
from dogcli.storage import TMP_PREFIX, Storage, StoredFile, is_jpeg, is_stale_temp

log = logging.getLogger(__name__)

UNKNOWN_VARIANT = "unknown"
QUARANTINE = "quarantine"
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Problem kinds, in the order they are reported.
KINDS = ("missing", "size", "sha256", "path", "invalid", "uncataloged", "leftover", "unexpected",
         "bad_row")  # fmt: skip
DOWNLOAD_KINDS = frozenset({"missing", "size", "sha256", "path", "invalid"})


@dataclass(frozen=True)
class Problem:
    kind: str
    path: str  # relative to the data dir
    detail: str = ""
    stream: str | None = None
    site_ts: str | None = None


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
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
                f"removed {self.removed} leftovers, quarantined {self.quarantined}, "
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
    site_ts: str
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class _File:
    stream: str
    site_ts: str
    rel_path: str
    size: int

    @property
    def capture(self) -> Capture:
        return make_capture(self.rel_path.split("/")[1], self.stream, self.site_ts)


# Hot paths (100,000 files and rows) parse names with regular expressions and string slices:
# strptime would cost several seconds. Each day folder's date is validated once.
_FILE_RE = re.compile(r"^([a-z0-9_]+)_(\d{8})T([01]\d|2[0-3])([0-5]\d)([0-5]\d)\.jpg$")
_SITE_TS_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)$")


def _rel_path(terminal: str, stream: str, site_ts: str) -> str:
    """Capture.rel_path without parsing dates (site_ts already validated)."""
    t = site_ts
    return (
        f"images/{terminal}/{stream}/{t[:10]}/"
        f"{stream}_{t[:4]}{t[5:7]}{t[8:10]}T{t[11:13]}{t[14:16]}{t[17:19]}.jpg"
    )


class Verifier:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.storage = Storage(settings.data_dir)
        self.terminal = settings.terminal

    # -- what the catalog says ---------------------------------------------------------------

    def _rows(self, since: date | None) -> list[_Row]:
        cols = (CaptureRow.stream, CaptureRow.site_ts, CaptureRow.path, CaptureRow.bytes,
                CaptureRow.sha256)  # fmt: skip
        query = select(*cols).where(CaptureRow.terminal == self.terminal)
        if since is not None:
            query = query.where(CaptureRow.site_ts >= f"{since:%Y-%m-%d}T00:00:00")

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
                if since is not None and day < since:
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
                    if m is None or m[1] != stream or m[2] != compact_day or not is_file:
                        problems.append(Problem("unexpected", rel, "not a capture file"))
                        continue
                    site_ts = f"{day_entry.name}T{m[3]}:{m[4]}:{m[5]}"
                    size = entry.stat(follow_symlinks=False).st_size
                    files[(stream, site_ts)] = _File(stream, site_ts, rel, size)
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
        for row in rows:
            key = (row.stream, row.site_ts)
            m = _SITE_TS_RE.match(row.site_ts)
            ok = m is not None and _cached(valid_days, m[1], _day)
            ok = ok and _cached(valid_streams, row.stream, NAME_RE.match)
            if not ok:
                problems.append(Problem("bad_row", row.path[:200], "invalid stream or timestamp",
                                        row.stream, row.site_ts))  # fmt: skip
                continue
            found = files.pop(key, None)
            problem = self._check_row(row, _rel_path(self.terminal, *key), found, deep)
            if problem is not None:
                problems.append(problem)
                to_download[key] = make_capture(self.terminal, *key)
        for key, found in sorted(files.items()):  # on disk, not in the catalog
            data = self._read(found.rel_path)
            if data is not None and is_jpeg(data):
                problems.append(Problem("uncataloged", found.rel_path, "", *key))
                to_catalog.append(found)
            else:
                problems.append(Problem("invalid", found.rel_path, "not a complete JPEG", *key))
                to_download[key] = found.capture
        order = {kind: i for i, kind in enumerate(KINDS)}
        report.problems = sorted(problems, key=lambda p: (order[p.kind], p.path))
        return report, {"download": to_download, "catalog": to_catalog}

    def _check_row(
        self, row: _Row, rel_path: str, found: _File | None, deep: bool
    ) -> Problem | None:
        key = (row.stream, row.site_ts)
        if found is None:
            return Problem("missing", rel_path, "cataloged, no file", *key)
        if row.path != rel_path:
            return Problem("path", rel_path, f"row says {row.path[:200]!r}", *key)
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
        to_catalog: list[_File] = plan["catalog"]
        journal = {
            (r.stream, r.site_ts): r for r in self.storage.pending() if r.terminal == self.terminal
        }
        confirm: list[_File] = []
        for found in to_catalog:
            record = journal.get((found.capture.stream, found.capture.site_ts))
            data = self._read(found.rel_path) or b""
            if (record is not None and record.path == found.rel_path
                    and record.bytes == len(data)
                    and record.sha256 == hashlib.sha256(data).hexdigest()):  # fmt: skip
                replace.append(record)
            else:
                confirm.append(found)
        invalid = {(p.stream, p.site_ts): p.path for p in report.problems if p.kind == "invalid"}
        if to_download or confirm:
            with CdnClient(s.cdn_url, concurrency=s.concurrency, max_retries=s.max_retries,
                           retry_base=s.retry_base, read_timeout=s.read_timeout) as cdn, \
                    ThreadPoolExecutor(max_workers=s.concurrency) as pool:  # fmt: skip
                downloads = list(pool.map(lambda c: _try(cdn, c), to_download.values()))
                confirms = list(pool.map(lambda f: _try(cdn, f.capture), confirm))
            for capture, got in zip(to_download.values(), downloads, strict=True):
                key = (capture.stream, capture.site_ts)
                if isinstance(got, str):
                    if key in invalid:  # junk with a capture's name: not worth keeping
                        self._quarantine(invalid[key], report)
                    report.failures.append(f"{capture.stream} {capture.site_ts}: {got}")
                    continue
                replace.append(self._store(got))
                report.downloaded += 1
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
            self.catalog.insert(replace, s.tz, s.batch_size, replace=True)
            report.cataloged += sum(1 for r in replace if (r.stream, r.site_ts) not in to_download)
        for problem in report.problems:
            if problem.kind == "leftover":
                with contextlib.suppress(OSError):
                    self.storage.abspath(problem.path).unlink()
                    report.removed += 1
            elif problem.kind == "unexpected":
                self._quarantine(problem.path, report)

    def _store(self, got: Downloaded) -> StoredFile:
        return self.storage.place(got.capture, got.variant, got.url, got.data, got.sha256)

    def _record(self, found: _File, variant: str, url: str, data: bytes, digest: str) -> StoredFile:
        """A row for a file already in place; downloaded_at is when the file was written."""
        c = found.capture
        written = datetime.now(UTC)
        with contextlib.suppress(OSError):
            mtime = (self.storage.root / found.rel_path).stat().st_mtime
            written = datetime.fromtimestamp(mtime, UTC)
        return StoredFile(c.terminal, c.stream, c.site_ts, variant, found.rel_path, len(data),
                          digest, url, written.isoformat())  # fmt: skip

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
    report.seconds = time.monotonic() - started
    return report


def verify_command(
    settings: Settings,
    repair: bool = False,
    since: date | None = None,
    deep: bool = False,
    wait: float = 0.0,
) -> VerifyReport:
    """verify as the CLI runs it: repair takes the archive lock, like fetch and cleanup."""
    from dogcli.lock import archive_lock

    if repair:
        Storage(settings.data_dir).ensure_writable()  # before any work: a usage error
    with Catalog(settings.effective_database_url, settings.max_retries, settings.retry_base) as cat:
        cat.upgrade()
        if not repair:
            return run_verify(settings, cat, False, since, deep)
        with archive_lock(settings.data_dir, cat, wait):
            return run_verify(settings, cat, True, since, deep)

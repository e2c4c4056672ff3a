"""verify's comparison of one terminal's catalog rows with its files on disk (see
dogcli/jobs/verify.py for what is checked and repaired)."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from dogcli.catalog.captures import Catalog
from dogcli.config import NAME_RE, Settings
from dogcli.jobs.verify_report import KINDS, Problem, VerifyReport
from dogcli.model import layout
from dogcli.model.captures import STAMP_FORMAT, Capture
from dogcli.storage.base import is_jpeg
from dogcli.storage.local import TMP_PREFIX, LocalStorage, is_stale_temp


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
_STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)$")


class Checker:
    """Compares one terminal's catalog rows with its files."""

    def __init__(
        self, settings: Settings, catalog: Catalog, storage: LocalStorage, terminal: str
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.storage = storage
        self.terminal = terminal
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
        return layout.rel_path_of_strings(self.terminal, stream, self._local_day(u[:13]), u)

    def capture(self, stream: str, url_ts: str) -> Capture:
        return self.zones.capture(self.terminal, stream, url_ts)

    # -- what the catalog says ---------------------------------------------------------------

    def _rows(self, since: date | None) -> list[_Row]:
        start = self.zones.day_bounds(since)[0] if since is not None else None
        return [_Row(*row) for row in self.catalog.rows_since(self.terminal, start)]

    # -- what the disk holds -------------------------------------------------------------------

    def _scan(self, since: date | None, problems: list[Problem]) -> dict[tuple[str, str], _File]:
        files: dict[tuple[str, str], _File] = {}
        prefix = layout.terminal_dir(self.terminal)
        base = self.storage.root / prefix
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
                day = (
                    layout.parse_day_name(day_entry.name)
                    if day_entry.is_dir(follow_symlinks=False)
                    else None
                )
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
                    m = layout.FAST_FILE_RE.match(name)
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
            ok = m is not None and _cached(valid_days, m[1], layout.parse_day_name)
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

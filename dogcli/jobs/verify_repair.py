"""verify --repair: put right what the checker found, through the archive's ingest (journal,
atomic file, row), never around it; nothing a person may have put in the data dir is deleted
(it is moved to quarantine/)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from dogcli.archive.ingest import Ingest
from dogcli.catalog.models import CaptureRow
from dogcli.jobs.verify_check import Checker, _File, _Row
from dogcli.jobs.verify_report import CDN_DIFFERS, Problem, VerifyReport
from dogcli.model import clock, layout
from dogcli.model.captures import THUMBNAIL, Capture
from dogcli.model.errors import StorageError
from dogcli.sources.base import Downloaded, Downloader, DownloadFailed
from dogcli.storage.base import StoredFile

log = logging.getLogger(__name__)
UNKNOWN_VARIANT = "unknown"
ROW_KINDS = frozenset({"missing", "size", "sha256"})  # problems of a cataloged capture


class Repairer:
    """Repairs one terminal's problems with the checker's plan."""

    def __init__(self, checker: Checker, ingest: Ingest, cdn: Downloader) -> None:
        self.checker = checker
        self.ingest = ingest
        self.cdn = cdn
        self.settings = checker.settings
        self.storage = checker.storage
        self.catalog = checker.catalog
        self.terminal = checker.terminal
        self.zones = checker.zones

    def capture(self, stream: str, url_ts: str) -> Capture:
        return self.checker.capture(stream, url_ts)

    def _read(self, rel_path: str) -> bytes | None:
        return self.checker._read(rel_path)

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
        if to_download:
            self._refetch(to_download, report)
        if confirm:
            cdn = self.cdn
            with ThreadPoolExecutor(max_workers=s.concurrency) as pool:
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
                    # The archive's bytes are kept, whatever the CDN serves now: cataloged as
                    # they are (variant unknown: nothing confirms which it is) and reported.
                    replace.append(self._record(found, UNKNOWN_VARIANT, "", data, digest))
                    detail = f"kept; the CDN's {got.variant} now differs ({len(got.data)} bytes)"
                    report.problems.append(Problem(CDN_DIFFERS, found.rel_path, detail,
                                                   found.stream, found.url_ts))  # fmt: skip
        if replace:
            for record in replace:
                self.ingest.add(record, replace=True)
            self.ingest.flush()
            report.cataloged += sum(1 for r in replace if (r.stream, r.url_ts) not in to_download)
        for problem in report.problems:
            if problem.kind == "leftover":
                with contextlib.suppress(OSError):
                    self.storage.abspath(problem.path).unlink()
                    report.removed += 1
            elif problem.kind == "unexpected":
                self._quarantine(problem.path, report)

    def _refetch(self, captures: dict[tuple[str, str], Capture], report: VerifyReport) -> None:
        """Missing and damaged files downloaded again through the ingest (journal, atomic
        file, row replaced), except that a thumbnail never takes the place of a full size:
        a capture cataloged as full keeps its file (or its absence) and is reported."""
        invalid = {(p.stream, p.url_ts): p.path for p in report.problems if p.kind == "invalid"}
        rows = {(p.stream, p.url_ts) for p in report.problems if p.kind in ROW_KINDS}
        full = rows - self._thumbnail_rows() if rows else set()
        cdn = self.cdn
        keys = list(captures)
        try:
            with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="dl") as pool:
                results = list(pool.map(lambda k: _try(cdn, captures[k]), keys))
            for key, got in zip(keys, results, strict=True):
                if isinstance(got, str):
                    if key in invalid:  # junk with a capture's name: not worth keeping
                        self._quarantine(invalid[key], report)
                    report.failures.append(f"{key[0]} {key[1]}: {got}")
                    continue
                if got.variant == THUMBNAIL and key in full:
                    report.failures.append(
                        f"{key[0]} {key[1]}: only the thumbnail is served; "
                        "not stored in place of the full size"
                    )
                    continue
                if got.variant == THUMBNAIL and key in invalid:
                    # It may be a full size cut short: kept aside, not overwritten.
                    self._quarantine(invalid[key], report)
                self.ingest.add(self.ingest.place(got), replace=True)
                report.downloaded += 1
        finally:  # what was repaired is cataloged, whatever stopped the rest
            self.ingest.flush(force=True)

    def _thumbnail_rows(self) -> set[tuple[str, str]]:
        """(stream, url_ts) of this terminal's rows cataloged as thumbnails."""
        query = select(CaptureRow.stream, CaptureRow.url_ts).where(
            CaptureRow.terminal == self.terminal, CaptureRow.variant == THUMBNAIL
        )

        def run() -> set[tuple[str, str]]:
            with self.catalog.engine.connect() as conn:
                return {(str(s), str(u)) for s, u in conn.execute(query)}

        return self.catalog.retry(run)

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
        target = self.storage.root / layout.QUARANTINE / rel_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target = target.with_name(f"{target.name}.{int(time.time())}")
            shutil.move(str(source), str(target))
        except OSError as exc:
            report.failures.append(
                f"cannot move {rel_path} to {layout.QUARANTINE}/: {exc.strerror}"
            )
            return
        report.quarantined += 1


def _try(cdn: Downloader, capture: Capture) -> Downloaded | str:
    try:
        return cdn.download(capture)
    except DownloadFailed as exc:
        return str(exc)

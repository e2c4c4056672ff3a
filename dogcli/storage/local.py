"""The local backend: files under the data dir, atomic writes, the pending journal, deletion."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date
from pathlib import Path

from dogcli.model import clock, layout
from dogcli.model.captures import Capture
from dogcli.model.errors import DataDirUnusable, StorageError
from dogcli.storage.base import StoredFile

TMP_PREFIX = ".tmp-"
PENDING_NAME = ".pending.jsonl"


def write_file_atomic(target: Path, data: bytes, label: str | None = None) -> None:
    """Temporary name in the same folder, fsync, rename: readers see the old or the new file."""
    label = label or str(target)
    tmp = target.parent / f"{TMP_PREFIX}{target.name}.{os.getpid()}.{threading.get_ident()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StorageError(f"disk full writing {label} in {target.parent}") from None
        raise StorageError(f"cannot write {label}: {exc.strerror}") from None


_APPEND_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW


def _append_line(fd: int, line: bytes) -> None:
    """Append one line to an O_APPEND descriptor; on failure (a full disk) cut the file back
    to where it was, so a half-written line never swallows the next."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        line = b"\n" + line  # an earlier line was cut short
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def disk_used(path: Path) -> tuple[int, int]:
    """(used, total) bytes of the file system holding path."""
    usage = shutil.disk_usage(path)
    return usage.used, usage.total


def disk_percent(path: Path) -> float:
    used, total = disk_used(path)
    return 100.0 * used / total if total else 0.0


def is_stale_temp(path: Path, now: float | None = None, max_age: float = 3600.0) -> bool:
    """A temporary file (``.tmp-NAME.PID.TID``) whose writer is gone: its process no longer
    exists, or it is older than max_age seconds (a writer on another host, or a reused pid)."""
    try:
        age = (now if now is not None else time.time()) - path.stat().st_mtime
    except OSError:
        return False
    if age > max_age:
        return True
    parts = path.name.rsplit(".", 2)
    try:
        pid = int(parts[-2])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class PathRefused(StorageError):
    """A path outside the data dir, or through a symlink in it: never written or deleted.
    `link` is the symlink on its way, when that is why (cleanup skips it and goes on)."""

    def __init__(self, message: str, link: Path | None = None) -> None:
        super().__init__(message)
        self.link = link


class LocalStorage:
    """The archive's files under the data dir: atomic writes, the pending journal, and no
    path outside the data dir, through a symlink or otherwise."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.pending_path = data_dir / PENDING_NAME
        self._pending_lock = threading.Lock()
        self._dirs: set[Path] = set()
        self._real_dirs: dict[Path, Path] = {}  # folder as given -> resolved, checked folder

    def ensure_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirUnusable(f"data dir {self.root}: {exc.strerror}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise DataDirUnusable(f"data dir {self.root} is not writable")

    def abspath(self, rel_path: str) -> Path:
        """The absolute path of rel_path, refused (PathRefused) unless it lies inside the data
        dir and no folder on the way is a symlink: a day folder linked elsewhere, even to
        another folder of the data dir, is not the archive's to write or delete in.

        Its folder is resolved and checked once per folder: resolving every path was 80% of a
        cleanup's time (100,000 files: 19 of 24 s). The last component is a plain name, never
        followed: unlinking or replacing a symlink touches only the link."""
        path = self.root / rel_path
        name = path.name
        if name in ("", ".", ".."):
            raise PathRefused(f"refusing a path outside the data dir: {rel_path}")
        folder = self._real_dirs.get(path.parent)
        if folder is None:
            folder = path.parent.resolve()
            root = self.root.resolve()
            inside = Path(rel_path).parent
            if inside.is_absolute() or ".." in inside.parts:
                raise PathRefused(f"refusing a path outside the data dir: {rel_path}")
            if folder != root / inside:  # a symlink on the way, to outside or not
                link = self.link_on(rel_path) or path.parent
                outside = folder != root and root not in folder.parents
                where = "outside the data dir" if outside else "through a symlink"
                raise PathRefused(f"refusing a path {where} ({link}): {rel_path}", link)
            self._real_dirs[path.parent] = folder
        return folder / name

    def link_on(self, rel_path: str) -> Path | None:
        """The first folder on rel_path's way from the data dir that is a symlink, if any."""
        folder = self.root
        for part in Path(rel_path).parent.parts:
            folder = folder / part
            if folder.is_symlink():
                return folder
        return None

    def exists(self, rel_path: str) -> bool:
        return (self.root / rel_path).is_file()

    def size(self, rel_path: str) -> int | None:
        try:
            return (self.root / rel_path).stat().st_size
        except OSError:
            return None

    def write_atomic(self, rel_path: str, data: bytes) -> None:
        """Write to a temporary name in the target folder, fsync, rename into place."""
        target = self.abspath(rel_path)
        folder = target.parent
        try:
            if folder not in self._dirs:
                folder.mkdir(parents=True, exist_ok=True)
                self._dirs.add(folder)
        except OSError as exc:
            raise StorageError(f"cannot write {rel_path}: {exc.strerror}") from None
        write_file_atomic(target, data, label=rel_path)

    def place(
        self, capture: Capture, variant: str, source_url: str, data: bytes, sha256: str
    ) -> StoredFile:
        """Store a downloaded image: journal its record first, then write the file atomically,
        so a crash after the rename still leaves the row to be cataloged by the next run."""
        record = StoredFile(
            terminal=capture.terminal,
            stream=capture.stream,
            url_ts=capture.url_ts,
            variant=variant,
            path=capture.rel_path,
            bytes=len(data),
            sha256=sha256,
            source_url=source_url,
            downloaded_at=clock.now().isoformat(),
        )
        self.journal(record)
        self.write_atomic(capture.rel_path, data)
        return record

    def delete(self, rel_path: str) -> bool:
        try:
            self.abspath(rel_path).unlink()
            return True
        except FileNotFoundError:
            return False

    def remove_empty_dirs(self, rel_dir: str) -> None:
        """Remove rel_dir and its empty parents up to images/."""
        path = self.abspath(rel_dir)
        stop = self.root.resolve() / layout.IMAGES
        while path != stop and stop in path.parents:
            try:
                path.rmdir()
            except OSError:
                return
            self._dirs.discard(path)
            path = path.parent

    def day_files(self, terminal: str, stream: str, day: date | str) -> list[str]:
        """Names of finished files (no temporaries) in one day folder."""
        folder = self.root / layout.day_dir(terminal, stream, day)
        try:
            return [n for n in os.listdir(folder) if not n.startswith(".")]
        except FileNotFoundError:
            return []

    # The pending journal: files placed on disk whose catalog row may not exist yet.
    # Appended before a file is renamed into place, replayed by the next run.
    def journal(self, record: StoredFile) -> None:
        line = (json.dumps(asdict(record), separators=(",", ":")) + "\n").encode()
        try:
            # O_NOFOLLOW: a journal linked elsewhere is refused, not appended to.
            fd = os.open(self.pending_path, _APPEND_FLAGS, 0o644)
            try:
                with self._pending_lock:
                    _append_line(fd, line)
                # The fsync (the line is durable before its file is renamed into place) is
                # made outside the lock, on the descriptor the line went through (another
                # process may have replayed and removed the journal since): the download
                # threads' fsyncs then overlap and the file system commits them together.
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StorageError(f"disk full writing the journal in {self.root}") from None
            if exc.errno == errno.ELOOP:
                raise StorageError(
                    f"{self.pending_path} is a symlink: not ours to follow"
                ) from None
            raise StorageError(f"cannot write {self.pending_path}: {exc.strerror}") from None

    def pending(self) -> Iterator[StoredFile]:
        try:
            handle = self.pending_path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                try:
                    fields = json.loads(line)
                    if "site_ts" in fields:  # written by a version before the UTC model
                        fields["url_ts"] = fields.pop("site_ts")
                    yield StoredFile(**fields)
                except (ValueError, TypeError):
                    continue  # a line cut short by a crash

    def clear_pending(self) -> None:
        with self._pending_lock, contextlib.suppress(FileNotFoundError):
            self.pending_path.unlink()

    def sweep_temps(self, terminal: str, stream: str, day: date | str) -> int:
        """Delete the temporary files that dead runs left in one day folder."""
        rel = layout.day_dir(terminal, stream, day)
        folder = self.root / rel
        removed = 0
        if self.link_on(f"{rel}/{TMP_PREFIX}") is not None:
            return 0  # a day folder linked elsewhere: what it holds is not ours to delete
        try:
            names = [n for n in os.listdir(folder) if n.startswith(TMP_PREFIX)]
        except (FileNotFoundError, NotADirectoryError):
            return 0
        now = time.time()
        for name in names:
            if is_stale_temp(folder / name, now):
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
                    removed += 1
        return removed

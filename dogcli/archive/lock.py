"""One fetch/backfill/cleanup at a time per archive: a file lock for SQLite, a PostgreSQL
advisory lock when the catalog is shared. Both die with their process, so a killed run never
blocks the next one.

Commands that only look (verify without --repair) take the lock shared: any number of them
at once, but never beside a run that writes (a verify during a backfill read files the
catalog did not have yet and reported them as uncataloged)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dogcli.model.errors import DataDirUnusable, DogcliError
from dogcli.model.status import ExitStatus

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
ADVISORY_KEY = 0x646F67636C6931  # "dogcli1"
POLL_SECONDS = 0.2


class LockBusy(DogcliError):
    """Another run holds the archive: exit 75 (EX_TEMPFAIL), try again later."""

    exit_code = ExitStatus.BUSY


class LockLost(DogcliError):
    """The lock went away under a run (its database session died) and another run took it:
    exit 75, the run stops before it writes beside that one."""

    exit_code = ExitStatus.BUSY


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _deadline_passed(deadline: float) -> bool:
    if time.monotonic() >= deadline:
        return True
    time.sleep(POLL_SECONDS)
    return False


class FileLock:
    """flock on {DATA_DIR}/.lock: exclusive for runs that write, shared for those that look."""

    def __init__(self, data_dir: Path, wait: float = 0.0, shared: bool = False) -> None:
        self.path = data_dir / LOCK_NAME
        self.data_dir = data_dir
        self.wait = wait
        self.shared = shared
        self.fd: int | None = None

    def _open(self) -> int | None:
        if not self.shared:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return self._open_file(os.O_RDWR | os.O_CREAT)
        # Looking needs no write access: a shared flock works on a read-only descriptor.
        with contextlib.suppress(FileNotFoundError):
            return self._open_file(os.O_RDONLY)
        if not self.data_dir.is_dir():
            return None  # no archive: nothing to guard, and nothing is created
        try:
            return self._open_file(os.O_RDWR | os.O_CREAT)
        except OSError:  # a read-only data dir no run can write to either
            return None

    def _open_file(self, flags: int) -> int:
        """The lock file, never through a symlink: acquire truncates it, so a `.lock` linked
        to another file truncated that file. No O_TRUNC here either; O_NONBLOCK so that a
        FIFO put in its place cannot hang the run."""
        try:
            fd = os.open(self.path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP and self.path.is_symlink():
                raise DataDirUnusable(
                    f"{self.path} is a symlink; remove it (dogcli makes its own lock file)"
                ) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DataDirUnusable(f"{self.path} is not a regular file; remove it")
        return fd

    def acquire(self) -> None:
        fd = self._open()
        if fd is None:
            return
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        deadline = time.monotonic() + self.wait
        try:
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if _deadline_passed(deadline):
                        holder = _holder(self.path)
                        raise LockBusy(
                            f"another dogcli run holds {self.path}"
                            + (f" ({holder})" if holder else "")
                            + f"; gave up after {self.wait:g}s"
                        ) from None
            if not self.shared:
                os.ftruncate(fd, 0)
                os.write(fd, f"pid {os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def ensure_held(self) -> None:
        """A flock lives as long as its descriptor: nothing to check."""

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


class AdvisoryLock:
    """A session-level advisory lock on a connection held for the whole run."""

    def __init__(self, engine: Any, wait: float = 0.0, shared: bool = False) -> None:
        self.engine = engine
        self.wait = wait
        self.shared = shared
        self.conn: Any = None
        suffix = "_shared" if shared else ""
        self._try = f"SELECT pg_try_advisory_lock{suffix}(:k)"
        self._unlock = f"SELECT pg_advisory_unlock{suffix}(:k)"

    def _try_lock(self, conn: Any) -> bool:
        from sqlalchemy import text

        got = conn.execute(text(self._try), {"k": ADVISORY_KEY}).scalar()
        conn.commit()
        return bool(got)

    def acquire(self) -> None:
        conn = self.engine.connect()
        try:
            deadline = time.monotonic() + self.wait
            while not self._try_lock(conn):
                if _deadline_passed(deadline):
                    raise LockBusy(
                        "another dogcli run holds the catalog's advisory lock; "
                        f"gave up after {self.wait:g}s"
                    )
        except BaseException:
            conn.close()
            raise
        self.conn = conn

    def _held(self) -> bool:
        """Does this lock's session still hold it? Raises when the session is gone."""
        from sqlalchemy import text

        key = ADVISORY_KEY
        held = self.conn.execute(
            text(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo"
                " AND objsubid = 1"
            ),
            {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
        ).first()
        self.conn.commit()
        return held is not None

    def ensure_held(self) -> None:
        """Cheap (one query): still held, or taken again on a new session if free; else
        LockLost. A server restart ends the session and with it the lock, silently. While
        the server cannot be reached nobody can take the lock either: then this returns,
        the catalog write itself retries or fails (images stay on disk), and the next
        write checks again."""
        with contextlib.suppress(Exception):
            if self.conn is not None and self._held():
                return
        old, self.conn = self.conn, None
        if old is not None:
            with contextlib.suppress(Exception):
                old.invalidate()
                old.close()
        try:
            conn = self.engine.connect()
        except Exception as exc:
            log.debug("advisory lock: the server cannot be reached (%s)", exc)
            return
        try:
            if self._try_lock(conn):
                self.conn = conn
                log.warning("the catalog's advisory lock was lost (server restart?); took it again")
                return
        except Exception as exc:
            conn.close()
            raise LockLost(
                f"lost the catalog's advisory lock and cannot take it again: {exc}"
            ) from None
        conn.close()
        raise LockLost("lost the catalog's advisory lock and another dogcli run took it; stopped")

    def release(self) -> None:
        from sqlalchemy import text

        conn, self.conn = self.conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.execute(text(self._unlock), {"k": ADVISORY_KEY})
            conn.commit()
        with contextlib.suppress(Exception):
            conn.close()


ArchiveLock = FileLock | AdvisoryLock


def make_lock(
    data_dir: Path, catalog: Any | None, wait: float = 0.0, shared: bool = False
) -> ArchiveLock:
    """The lock that fits the catalog: advisory on PostgreSQL, else a file in the data dir."""
    if catalog is not None and catalog.dialect == "postgresql":
        return AdvisoryLock(catalog.engine, wait, shared)
    return FileLock(data_dir, wait, shared)


@contextlib.contextmanager
def archive_lock(
    data_dir: Path, catalog: Any | None, wait: float = 0.0, shared: bool = False
) -> Iterator[ArchiveLock]:
    lock = make_lock(data_dir, catalog, wait, shared)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()

"""One fetch/backfill/cleanup at a time per archive: a file lock for SQLite, a PostgreSQL
advisory lock when the catalog is shared. Both die with their process, so a killed run never
blocks the next one."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dogcli.errors import DogcliError
from dogcli.status import ExitStatus

LOCK_NAME = ".lock"
ADVISORY_KEY = 0x646F67636C6931  # "dogcli1"
POLL_SECONDS = 0.2


class LockBusy(DogcliError):
    """Another run holds the archive: exit 75 (EX_TEMPFAIL), try again later."""

    exit_code = ExitStatus.BUSY


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def file_lock(data_dir: Path, wait: float = 0.0) -> Iterator[None]:
    path = data_dir / LOCK_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(path)
                    raise LockBusy(
                        f"another dogcli run holds {path}"
                        + (f" ({holder})" if holder else "")
                        + f"; gave up after {wait:g}s"
                    ) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def advisory_lock(engine: Any, wait: float = 0.0) -> Iterator[None]:
    """A session-level advisory lock on a connection held for the whole run."""
    from sqlalchemy import text

    with engine.connect() as conn:
        deadline = time.monotonic() + wait
        while True:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})
            conn.commit()
            if got.scalar():
                break
            if time.monotonic() >= deadline:
                raise LockBusy(
                    f"another dogcli run holds the catalog's advisory lock; gave up after {wait:g}s"
                )
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                conn.commit()


@contextlib.contextmanager
def archive_lock(data_dir: Path, catalog: Any | None, wait: float = 0.0) -> Iterator[None]:
    """The lock that fits the catalog: advisory on PostgreSQL, else a file in the data dir."""
    if catalog is not None and catalog.dialect == "postgresql":
        with advisory_lock(catalog.engine, wait):
            yield
    else:
        with file_lock(data_dir, wait):
            yield

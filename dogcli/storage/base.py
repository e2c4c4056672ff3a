"""What the archive asks of a storage backend, whatever holds the files: the local data dir
today, a bucket next. Paths are the layout's relative paths (dogcli.model.layout)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from dogcli.model.captures import Capture


def is_jpeg(data: bytes) -> bool:
    return len(data) >= 4 and data[:3] == b"\xff\xd8\xff" and data.rstrip(b"\0")[-2:] == b"\xff\xd9"


@dataclass(frozen=True)
class StoredFile:
    """A file placed in storage, with what the catalog needs to record it."""

    terminal: str
    stream: str
    url_ts: str  # the capture's stamp as in its URL
    variant: str
    path: str  # the layout's path, relative to the data dir
    bytes: int
    sha256: str
    source_url: str
    downloaded_at: str  # ISO 8601, UTC


class Storage(Protocol):
    """A capture is placed whole or not at all; its record is journaled before it appears, so
    a crash between the two leaves a record the next run catalogs (pending/clear_pending)."""

    def ensure_writable(self) -> None: ...
    def place(
        self, capture: Capture, variant: str, source_url: str, data: bytes, sha256: str
    ) -> StoredFile: ...
    def size(self, rel_path: str) -> int | None: ...
    def exists(self, rel_path: str) -> bool: ...
    def delete(self, rel_path: str) -> bool: ...
    def day_files(self, terminal: str, stream: str, day: date | str) -> list[str]: ...
    def sweep_temps(self, terminal: str, stream: str, day: date | str) -> int: ...
    def pending(self) -> Iterator[StoredFile]: ...
    def clear_pending(self) -> None: ...

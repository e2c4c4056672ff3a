from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from dogcli.model.errors import StorageError
from dogcli.model.redact import redact_url
from dogcli.storage.base import StoredFile, is_jpeg
from dogcli.storage.local import LocalStorage

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 100 + b"\xff\xd9"


def record(path: str, size: int = len(JPEG)) -> StoredFile:
    return StoredFile("apm", "in_gate", "2025-09-06T07:03:17", "full", path, size, "0" * 64,
                      "http://cdn/x.jpeg", "2025-09-06T14:03:20+00:00")  # fmt: skip


def test_is_jpeg() -> None:
    assert is_jpeg(JPEG)
    assert is_jpeg(JPEG + b"\0\0")  # padding after EOI is tolerated
    assert not is_jpeg(JPEG[:-1])
    assert not is_jpeg(b"<html>error</html>")
    assert not is_jpeg(b"")


def test_atomic_write_leaves_no_temporaries(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.write_atomic("images/apm/in_gate/2025-09-06/a.jpg", JPEG)
    folder = tmp_path / "images/apm/in_gate/2025-09-06"
    assert (folder / "a.jpg").read_bytes() == JPEG
    assert os.listdir(folder) == ["a.jpg"]
    assert storage.day_files("apm", "in_gate", "2025-09-06") == ["a.jpg"]
    assert storage.size("images/apm/in_gate/2025-09-06/a.jpg") == len(JPEG)


def test_refuses_paths_outside_the_data_dir(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data")
    with pytest.raises(StorageError, match="outside the data dir"):
        storage.write_atomic("../escape.jpg", JPEG)
    assert not (tmp_path / "escape.jpg").exists()


def test_disk_full_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path)

    def full_disk(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)  # a full disk cannot be made real here
    with pytest.raises(StorageError, match="disk full"):
        storage.write_atomic("images/apm/in_gate/2025-09-06/a.jpg", JPEG)
    assert os.listdir(tmp_path / "images/apm/in_gate/2025-09-06") == []


def test_pending_journal_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert list(storage.pending()) == []
    storage.journal(record("images/a.jpg"))
    storage.journal(record("images/b.jpg"))
    with storage.pending_path.open("a") as handle:
        handle.write('{"terminal": "apm", "cut off')  # a crash mid-line
    assert [r.path for r in storage.pending()] == ["images/a.jpg", "images/b.jpg"]
    storage.clear_pending()
    assert list(storage.pending()) == []


def test_pending_lines_of_the_earlier_version_are_read(tmp_path: Path) -> None:
    """A journal written before the UTC model names the stamp site_ts: read as url_ts."""
    storage = LocalStorage(tmp_path)
    old = {
        "terminal": "apm", "stream": "in_gate", "site_ts": "2025-09-06T00:20:27",
        "variant": "full", "path": "images/apm/in_gate/2025-09-06/in_gate_20250906T002027.jpg",
        "bytes": 106, "sha256": "1" * 64, "source_url": "http://cdn/x.jpeg",
        "downloaded_at": "2025-09-06T00:21:00+00:00",
    }  # fmt: skip
    storage.pending_path.parent.mkdir(parents=True, exist_ok=True)
    storage.pending_path.write_text(json.dumps(old) + "\n")
    storage.journal(record("images/apm/in_gate/2025-09-05/in_gate_20250906T002027Z.jpg"))
    first, second = list(storage.pending())
    assert first.url_ts == "2025-09-06T00:20:27"
    assert first.path.endswith("in_gate_20250906T002027.jpg") and first.bytes == 106
    assert second.url_ts == "2025-09-06T07:03:17"
    line = storage.pending_path.read_text().splitlines()[1]
    assert '"url_ts"' in line and "site_ts" not in line


def test_delete_and_remove_empty_dirs(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    rel = "images/apm/in_gate/2025-09-06/a.jpg"
    storage.write_atomic(rel, JPEG)
    assert storage.delete(rel)
    assert not storage.delete(rel)
    storage.remove_empty_dirs("images/apm/in_gate/2025-09-06")
    assert not (tmp_path / "images/apm").exists()
    assert (tmp_path / "images").is_dir()


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="data dir"):
        LocalStorage(blocker / "data").ensure_writable()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql+psycopg://dog:s3cret@db:5432/x", "postgresql+psycopg://dog:***@db:5432/x"),
        ("see postgresql://u:p%40ss@h/x now", "see postgresql://u:***@h/x now"),
        ("host=db password=s3cret user=dog", "host=db password=*** user=dog"),
        ("sqlite:////var/lib/dogcli/dogcli.db", "sqlite:////var/lib/dogcli/dogcli.db"),
    ],
)
def test_redaction(text: str, expected: str) -> None:
    assert redact_url(text) == expected

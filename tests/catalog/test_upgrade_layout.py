"""An archive of the earlier layout brought to the UTC model by ``verify --repair``.

The earlier version named a file after its URL stamp and kept it in the folder of the stamp's
date (``in_gate/2025-09-06/in_gate_20250906T002027.jpg``). Now the folder is the capture's local
day and the name its UTC time (``in_gate/2025-09-05/in_gate_20250906T002027Z.jpg``). Repair
renames, then points rows there; nothing is downloaded (the CDN is a closed port, so any
download attempt would be a failure in the report), nothing is lost, and a repair cut short
between rename and row update is finished by the next one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select

from dogcli.catalog.captures import Catalog
from dogcli.catalog.models import CaptureRow
from dogcli.model.captures import Zones
from dogcli.storage.base import StoredFile

ZONES = Zones(ZoneInfo("America/Los_Angeles"), ZoneInfo("UTC"))
CLOSED_CDN = "http://127.0.0.1:9/cdn"

# (stream, URL stamp) -> (path of the earlier layout, path now)
ARCHIVE = {
    ("in_gate", "2025-09-06T00:20:27"): (
        "images/apm/in_gate/2025-09-06/in_gate_20250906T002027.jpg",
        "images/apm/in_gate/2025-09-05/in_gate_20250906T002027Z.jpg",
    ),
    ("in_gate", "2025-09-06T07:03:17"): (  # 00:03 locally: same folder, new name
        "images/apm/in_gate/2025-09-06/in_gate_20250906T070317.jpg",
        "images/apm/in_gate/2025-09-06/in_gate_20250906T070317Z.jpg",
    ),
    ("in_gate", "2025-09-05T23:00:00"): (
        "images/apm/in_gate/2025-09-05/in_gate_20250905T230000.jpg",
        "images/apm/in_gate/2025-09-05/in_gate_20250905T230000Z.jpg",
    ),
    ("out_gate", "2025-09-07T03:00:00"): (  # its folder empties and goes
        "images/apm/out_gate/2025-09-07/out_gate_20250907T030000.jpg",
        "images/apm/out_gate/2025-09-06/out_gate_20250907T030000Z.jpg",
    ),
}


def jpeg(seed: str) -> bytes:
    digest = hashlib.sha256(seed.encode()).digest()
    image = Image.new("RGB", (64, 36), tuple(digest[:3]))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.fixture
def archive(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str, dict[str, bytes]]:
    """Files of the earlier layout and their rows (the catalog already migrated to 0003)."""
    data = tmp_path / "data"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    monkeypatch.setenv("DOGCLI_CDN_URL", CLOSED_CDN)
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "0")
    monkeypatch.setenv("DOGCLI_RETRY_BASE", "0")
    contents: dict[str, bytes] = {}
    records = []
    for (stream, stamp), (old, _new) in ARCHIVE.items():
        body = jpeg(stamp + stream)
        contents[stamp + stream] = body
        (data / old).parent.mkdir(parents=True, exist_ok=True)
        (data / old).write_bytes(body)
        capture = ZONES.capture("apm", stream, stamp)
        records.append(StoredFile("apm", stream, stamp, "full", old, len(body),
                                  hashlib.sha256(body).hexdigest(), capture.url(CLOSED_CDN),
                                  "2025-09-07T12:00:00+00:00"))  # fmt: skip
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        assert catalog.insert(records, ZONES.url) == len(ARCHIVE)
    return data, db_url, contents


def rows(db_url: str) -> dict[tuple[str, str], str]:
    with Catalog(db_url) as catalog, catalog.engine.connect() as conn:
        query = select(CaptureRow.stream, CaptureRow.url_ts, CaptureRow.path)
        return {(s, t): p for s, t, p in conn.execute(query)}


def files(data: Path) -> set[str]:
    return {
        str(p.relative_to(data))
        for p in (data / "images").rglob("*")
        if p.is_file() or (p.is_dir() and not any(p.iterdir()))
    }


def verify(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    ran = cli("verify", "--json", *args)
    assert "Traceback" not in ran.err, ran.err
    return ran.code, json.loads(ran.out)


def assert_new_layout(data: Path, db_url: str, contents: dict[str, bytes]) -> None:
    assert rows(db_url) == {key: new for key, (_old, new) in ARCHIVE.items()}
    assert files(data) == {new for _old, new in ARCHIVE.values()}
    for (stream, stamp), (_old, new) in ARCHIVE.items():
        assert (data / new).read_bytes() == contents[stamp + stream]
        assert new == ZONES.capture("apm", stream, stamp).rel_path


def test_repair_brings_the_earlier_layout_to_the_new_one(
    archive: tuple[Path, str, dict[str, bytes]], cli: Any
) -> None:
    data, db_url, contents = archive
    code, report = verify(cli)
    assert code == 1
    assert report["counts"] == {"layout": len(ARCHIVE)}
    assert {p["path"] for p in report["problems"]} == {old for old, _new in ARCHIVE.values()}
    first = next(p for p in report["problems"] if p["url_ts"] == "2025-09-06T00:20:27")
    assert "images/apm/in_gate/2025-09-05/in_gate_20250906T002027Z.jpg" in first["detail"]
    assert files(data) == {old for old, _new in ARCHIVE.values()}  # verify alone moves nothing

    code, report = verify(cli, "--repair")
    assert code == 0, report
    assert report["repaired"]["moved"] == len(ARCHIVE)
    assert report["repaired"]["downloaded"] == 0 and report["failures"] == []
    assert_new_layout(data, db_url, contents)
    assert not (data / "images/apm/out_gate/2025-09-07").exists()  # emptied, removed
    assert (data / "images/apm/in_gate/2025-09-06").is_dir()  # still holds a capture

    code, report = verify(cli, "--deep")
    assert code == 0 and report["problems"] == []
    assert report["rows"] == report["files"] == len(ARCHIVE)
    code, report = verify(cli, "--repair")  # nothing left to do
    assert code == 0 and report["repaired"]["moved"] == 0 and report["problems"] == []


def test_a_repair_cut_short_after_the_rename_is_finished(
    archive: tuple[Path, str, dict[str, bytes]], cli: Any
) -> None:
    """The crash window of repair: one file renamed to its place, its row not yet updated."""
    data, db_url, contents = archive
    key = ("in_gate", "2025-09-06T00:20:27")
    old, new = ARCHIVE[key]
    (data / new).parent.mkdir(parents=True, exist_ok=True)
    os.rename(data / old, data / new)
    assert rows(db_url)[key] == old

    code, report = verify(cli)
    assert code == 1
    assert report["counts"] == {"path": 1, "layout": len(ARCHIVE) - 1}
    (path_problem,) = [p for p in report["problems"] if p["kind"] == "path"]
    assert path_problem["path"] == new and path_problem["url_ts"] == key[1]
    assert old in path_problem["detail"]

    code, report = verify(cli, "--repair")
    assert code == 0, report
    assert report["repaired"]["moved"] == len(ARCHIVE) - 1  # the renamed file stays put
    assert report["repaired"]["downloaded"] == 0 and report["failures"] == []
    assert_new_layout(data, db_url, contents)
    code, report = verify(cli, "--deep")
    assert code == 0 and report["problems"] == []


def test_only_the_row_update_left_to_do(
    archive: tuple[Path, str, dict[str, bytes]], cli: Any
) -> None:
    """Every file already renamed by an interrupted repair: only rows are pointed."""
    data, db_url, contents = archive
    for old, new in ARCHIVE.values():
        (data / new).parent.mkdir(parents=True, exist_ok=True)
        os.rename(data / old, data / new)
    code, report = verify(cli)
    assert code == 1 and report["counts"] == {"path": len(ARCHIVE)}
    code, report = verify(cli, "--repair")
    assert code == 0 and report["repaired"]["moved"] == 0
    assert report["repaired"]["downloaded"] == 0 and report["failures"] == []
    # The emptied out_gate/2025-09-07 folder of the interrupted run is left; nothing else.
    assert files(data) - {"images/apm/out_gate/2025-09-07"} == {n for _o, n in ARCHIVE.values()}
    assert rows(db_url) == {key: new for key, (_old, new) in ARCHIVE.items()}
    for (stream, stamp), (_old, new) in ARCHIVE.items():
        assert (data / new).read_bytes() == contents[stamp + stream]


def test_a_file_in_both_layouts_keeps_the_new_one(
    archive: tuple[Path, str, dict[str, bytes]], cli: Any
) -> None:
    """A copy of the same capture under both names: the new one is kept, the old quarantined
    (never deleted), and nothing is downloaded."""
    data, db_url, contents = archive
    key = ("in_gate", "2025-09-06T00:20:27")
    old, new = ARCHIVE[key]
    (data / new).parent.mkdir(parents=True, exist_ok=True)
    (data / new).write_bytes((data / old).read_bytes())
    code, report = verify(cli)
    assert code == 1
    assert {"kind": "unexpected", "path": old} in [
        {"kind": p["kind"], "path": p["path"]} for p in report["problems"]
    ]
    code, report = verify(cli, "--repair")
    assert code == 0, report
    assert report["repaired"]["downloaded"] == 0 and report["repaired"]["quarantined"] == 1
    assert_new_layout(data, db_url, contents)
    assert (data / "quarantine" / old).read_bytes() == contents[key[1] + key[0]]


def _legacy_uncataloged(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, bytes]:
    data = tmp_path / "data"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    monkeypatch.setenv("DOGCLI_CDN_URL", CLOSED_CDN)
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "0")
    body = jpeg("uncataloged")
    (data / LEGACY).parent.mkdir(parents=True)
    (data / LEGACY).write_bytes(body)
    with Catalog(db_url) as catalog:  # an archive whose catalog lost the rows
        catalog.upgrade()
    return data, body


LEGACY = "images/apm/in_gate/2025-09-06/in_gate_20250906T002027.jpg"
PLACED = "images/apm/in_gate/2025-09-05/in_gate_20250906T002027Z.jpg"


def _only_row(db_url: str) -> tuple[str, str, str, str, datetime]:
    with Catalog(db_url) as catalog, catalog.engine.connect() as conn:
        cols = (CaptureRow.url_ts, CaptureRow.path, CaptureRow.variant, CaptureRow.source_url,
                CaptureRow.captured_at)  # fmt: skip
        ((url_ts, path, variant, url, at),) = conn.execute(select(*cols)).all()
    return url_ts, path, variant, url, at.replace(tzinfo=at.tzinfo or UTC)


def test_uncataloged_files_of_the_earlier_layout_are_moved_and_cataloged(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """A legacy file without row or journal line, the CDN unreachable: moved to its place and
    cataloged with variant unknown rather than a guess; the file is kept, nothing fails."""
    data, body = _legacy_uncataloged(db_url, tmp_path, monkeypatch)
    code, report = verify(cli)
    assert code == 1 and report["counts"] == {"layout": 1, "uncataloged": 1}
    code, report = verify(cli, "--repair")
    assert code == 0, report
    assert report["repaired"]["downloaded"] == 0 and report["repaired"]["cataloged"] == 1
    assert (data / PLACED).read_bytes() == body and not (data / LEGACY).exists()
    url_ts, path, variant, _url, at = _only_row(db_url)
    assert (url_ts, path, variant) == ("2025-09-06T00:20:27", PLACED, "unknown")
    assert at == datetime(2025, 9, 6, 0, 20, 27, tzinfo=UTC)
    assert verify(cli)[0] == 0


def test_a_journal_line_of_the_earlier_version_catalogs_a_legacy_file(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """The pending journal of the earlier version (site_ts, the legacy path) has the exact
    record of the file (size, sha256): it is cataloged from it, without asking the CDN."""
    data, body = _legacy_uncataloged(db_url, tmp_path, monkeypatch)
    line = {"terminal": "apm", "stream": "in_gate", "site_ts": "2025-09-06T00:20:27",
            "variant": "thumbnail", "path": LEGACY, "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(), "source_url": "http://cdn/x.jpeg",
            "downloaded_at": "2025-09-06T00:21:00+00:00"}  # fmt: skip
    (data / ".pending.jsonl").write_text(json.dumps(line) + "\n")
    code, report = verify(cli, "--repair")
    assert code == 0, report
    assert (data / PLACED).read_bytes() == body
    url_ts, path, variant, url, _at = _only_row(db_url)
    assert (url_ts, path, variant, url) == (
        "2025-09-06T00:20:27",
        PLACED,
        "thumbnail",
        "http://cdn/x.jpeg",
    )


def test_since_on_the_earlier_layout_leaves_rows_of_the_day_before_alone(
    archive: tuple[Path, str, dict[str, bytes]], cli: Any
) -> None:
    """verify --repair --since 2025-09-06: the capture stamped 2025-09-06 00:20 UTC belongs to
    2025-09-05, so its row is left out; its legacy file, still in the folder 2025-09-06, must
    not be taken for an uncataloged one (whose row repair would rewrite: variant unknown, no
    URL, after asking the CDN)."""
    _data, db_url, _contents = archive
    _code, report = verify(cli, "--repair", "--since", "2025-09-06")
    kinds = {(p["kind"], p["url_ts"]) for p in report["problems"]}
    assert ("layout", "2025-09-07T03:00:00") in kinds  # the days from --since are repaired
    with Catalog(db_url) as catalog, catalog.engine.connect() as conn:
        query = select(CaptureRow.url_ts, CaptureRow.variant, CaptureRow.source_url)
        found = {ts: (variant, url) for ts, variant, url in conn.execute(query)}
    variant, url = found["2025-09-06T00:20:27"]
    assert variant == "full" and url.endswith("/2025-09-06T00:20:27-in_gate.jpeg")
    assert ("uncataloged", "2025-09-06T00:20:27") not in kinds, report["problems"]
    assert report["repaired"]["cataloged"] == 0


@pytest.mark.parametrize("name", ["in_gate_20250231T000000Z.jpg", "in_gate_20251301T000000.jpg"])
def test_a_name_with_an_impossible_date_is_unexpected(
    name: str, archive: tuple[Path, str, dict[str, bytes]], cli: Any
) -> None:
    data, _db_url, _contents = archive
    (data / "images/apm/in_gate/2025-09-06" / name).write_bytes(jpeg(name))
    code, report = verify(cli)
    assert code == 1
    assert {"kind": "unexpected", "path": f"images/apm/in_gate/2025-09-06/{name}"} in [
        {"kind": p["kind"], "path": p["path"]} for p in report["problems"]
    ]

"""Kept bytes: no command replaces an archived file by other bytes, or a full size by its
thumbnail; a catalog lost beside its images stops the writing commands until `verify --repair`
rebuilds it from the disk. Real files, real SQLite, a real CDN on loopback that now serves
other bytes for the same URLs."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dogcli.config import load_settings
from dogcli.model.captures import capture_from_path
from tests.archivekit import archive, jpeg, populate, site_now  # noqa: F401 (fixture)
from tests.faultkit import record

N_PER_STREAM = 72  # two streams: 144 archived images, as in the issue


class ChangedCdn:
    """A CDN on loopback that serves other bytes than the archive holds, except for the URL
    stamps in `same` (their own bytes); `full_gone`: every full size is a 404."""

    def __init__(self) -> None:
        self.same: dict[str, bytes] = {}  # URL path of a full size -> the archive's bytes
        self.full_gone = False
        self.requests = 0
        cdn = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                cdn.requests += 1
                thumb = self.path.endswith("-thumbnail.jpeg")
                if not thumb and cdn.full_gone:
                    body, status = b"not found", 404
                elif not thumb and self.path in cdn.same:
                    body, status = cdn.same[self.path], 200
                else:
                    body, status = jpeg("other" + self.path, 120 if thumb else 500), 200
                self.send_response(status)
                self.send_header("Content-Type", "image/jpeg" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cdn"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cdn(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChangedCdn]:
    server = ChangedCdn()
    monkeypatch.setenv("DOGCLI_CDN_URL", server.url)
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "1")
    try:
        yield server
    finally:
        server.close()


def _archive(archive: dict[str, Any]) -> dict[str, bytes]:  # noqa: F811
    """144 captures of two earlier days, files and rows (variant full); rel path -> bytes."""
    start = (site_now() - timedelta(days=2)).replace(hour=0, minute=0, second=0)
    moments = [start + timedelta(minutes=20 * i, seconds=7) for i in range(N_PER_STREAM)]
    for stream in ("in_gate", "out_gate"):
        populate(archive["dir"], archive["url"], moments, stream)
    data_dir: Path = archive["dir"]
    files = {
        p.relative_to(data_dir).as_posix(): p.read_bytes()
        for p in sorted((data_dir / "images").rglob("*.jpg"))
    }
    assert len(files) == 2 * N_PER_STREAM
    return files


def _on_disk(data_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(data_dir).as_posix(): p.read_bytes()
        for p in sorted((data_dir / "images").rglob("*.jpg"))
    }


def _rows(url: str) -> dict[str, tuple[int, str, str, str]]:
    """path -> (bytes, sha256, variant, source_url)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            text("select path, bytes, sha256, variant, source_url from captures")
        ).all()
    engine.dispose()
    return {str(p): (int(b), str(h), str(v), str(u)) for p, b, h, v, u in found}


@pytest.mark.parametrize("full_gone", [False, True], ids=["cdn-changed", "full-sizes-gone"])
def test_repair_after_a_lost_catalog_keeps_every_archived_byte(
    archive: dict[str, Any],  # noqa: F811
    cdn: ChangedCdn,
    cli: Any,
    full_gone: bool,
) -> None:
    files = _archive(archive)
    # A third of the captures: the CDN still serves the archive's very bytes.
    same = {rel for i, rel in enumerate(sorted(files)) if i % 3 == 0}
    for rel in same:
        cdn.same[_capture_url_path(cdn, archive["dir"], rel)] = files[rel]
    cdn.full_gone = full_gone
    (archive["dir"] / "dogcli.db").unlink()

    ran = cli("verify", "--repair", "--json")
    assert ran.code == 0, ran.out + ran.err
    report = json.loads(ran.out)
    assert _on_disk(archive["dir"]) == files  # not one byte replaced, no thumbnail written
    rows = _rows(archive["url"])
    assert {rel: (len(d), hashlib.sha256(d).hexdigest()) for rel, d in files.items()} == {
        rel: row[:2] for rel, row in rows.items()
    }
    confirmed = set() if full_gone else same
    assert {rel for rel, row in rows.items() if row[2] == "full"} == confirmed
    assert all(rows[rel][2] == "unknown" and rows[rel][3] == "" for rel in set(files) - confirmed)
    differs = {p["path"] for p in report["problems"] if p["kind"] == "cdn_differs"}
    assert differs == set(files) - confirmed
    assert report["counts"]["uncataloged"] == len(files)
    assert report["counts"].get("cdn_differs", 0) == len(differs)
    assert report["repaired"]["downloaded"] == 0 and report["failures"] == []
    assert report["repaired"]["cataloged"] == len(files)

    text_report = cli("verify", "--deep")
    assert text_report.code == 0 and "catalog and disk agree" in text_report.out
    record(f"repair_lost_catalog_{'full_gone' if full_gone else 'cdn_changed'}",
           archived=len(files), replaced=0, kept=len(files), cdn_differs=len(differs),
           confirmed_full=len(confirmed))  # fmt: skip


def test_a_thumbnail_never_takes_the_place_of_a_full_size(
    archive: dict[str, Any],  # noqa: F811
    cdn: ChangedCdn,
    cli: Any,
) -> None:
    files = _archive(archive)
    data_dir: Path = archive["dir"]
    names = sorted(files)
    gone, cut = names[5], names[40]
    (data_dir / gone).unlink()
    (data_dir / cut).write_bytes(files[cut][:-50])  # damaged: a size problem
    cdn.full_gone = True  # only thumbnails are served now

    ran = cli("verify", "--repair")
    assert ran.code == 1, ran.out + ran.err
    failed = [line for line in ran.out.splitlines() if line.startswith("  failed:")]
    assert len(failed) == 2 and all("only the thumbnail is served" in f for f in failed)
    assert not (data_dir / gone).exists()
    assert (data_dir / cut).read_bytes() == files[cut][:-50]  # left as it was, and reported
    rows = _rows(archive["url"])
    assert rows[gone][2] == rows[cut][2] == "full"
    assert rows[cut][:2] == (len(files[cut]), hashlib.sha256(files[cut]).hexdigest())
    rest = {rel: data for rel, data in files.items() if rel not in (gone, cut)}
    assert {rel: d for rel, d in _on_disk(data_dir).items() if rel in rest} == rest

    # With the full sizes back, the same repair puts them in place.
    cdn.full_gone = False
    for rel in (gone, cut):
        cdn.same[_capture_url_path(cdn, data_dir, rel)] = files[rel]
    ran = cli("verify", "--repair")
    assert ran.code == 0, ran.out + ran.err
    assert _on_disk(data_dir) == files
    record("repair_thumbnail_only", full_rows_kept=2, thumbnails_written=0)


def _capture_url_path(cdn: ChangedCdn, data_dir: Path, rel: str) -> str:
    """The CDN request path of the full size of the capture stored at rel."""
    settings = load_settings()
    _images, terminal, stream, _day, name = rel.split("/")
    parsed = capture_from_path(terminal, stream, name, settings.zones)
    assert parsed is not None
    url = parsed[0].url(cdn.url)
    return url[len(cdn.url) - len("/cdn") :]


WRITERS = [["fetch"], ["backfill", "YESTERDAY"], ["cleanup"]]


@pytest.mark.parametrize("command", WRITERS, ids=lambda c: c[0])
def test_a_lost_catalog_beside_images_stops_every_writing_command(
    archive: dict[str, Any],  # noqa: F811
    cdn: ChangedCdn,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    files = _archive(archive)
    data_dir: Path = archive["dir"]
    catalog = data_dir / "dogcli.db"
    catalog.unlink()
    # Were the run to start, fetch and backfill would stop at once at this browser.
    for name in ("DOGCLI_CHROME_BINARY", "DOGCLI_CHROMEDRIVER"):
        monkeypatch.setenv(name, "/bin/true")
    monkeypatch.setenv("DOGCLI_SITE_URL", "http://127.0.0.1:9")
    args = [f"{(site_now() - timedelta(days=1)):%Y-%m-%d}" if a == "YESTERDAY" else a
            for a in command]  # fmt: skip
    ran = cli(*args)
    assert ran.code == 1, (ran.out, ran.err)
    lines = ran.err.strip().splitlines()
    assert lines == [
        f"dogcli: error: {catalog} does not exist but {data_dir / 'images'} holds images: "
        "`dogcli verify --repair` catalogs them from the disk"
    ], ran.err
    assert not catalog.exists() and _on_disk(data_dir) == files and cdn.requests == 0

    # How it is mended: verify --repair rebuilds the catalog from the disk (the CDN is asked
    # only to confirm variants: nothing is written from it); then the command runs.
    ran = cli("verify", "--repair")
    assert ran.code == 0, ran.out + ran.err
    assert "downloaded 0" in ran.out and f"cataloged {len(files)}" in ran.out
    assert _on_disk(data_dir) == files and len(_rows(archive["url"])) == len(files)
    if command == ["cleanup"]:
        assert cli("cleanup").code == 0
        assert _on_disk(data_dir) == files  # retention keeps two-day-old captures


def test_db_upgrade_still_mends_a_lost_catalog(
    archive: dict[str, Any],  # noqa: F811
    cdn: ChangedCdn,
    cli: Any,
) -> None:
    files = _archive(archive)
    (archive["dir"] / "dogcli.db").unlink()
    assert cli("cleanup").code == 1
    assert cli("db", "upgrade").code == 0
    ran = cli("verify", "--repair")
    assert ran.code == 0, ran.out + ran.err
    assert _on_disk(archive["dir"]) == files and len(_rows(archive["url"])) == len(files)


def test_a_fresh_data_dir_still_starts_its_archive(
    archive: dict[str, Any],  # noqa: F811
    cli: Any,
) -> None:
    """No images: the first writing command creates the catalog as before, without a word."""
    ran = cli("cleanup")
    assert ran.code == 0, ran.err
    assert (archive["dir"] / "dogcli.db").is_file()
    (archive["dir"] / "images").mkdir()  # an empty images/ (or only temporaries) is no archive
    (archive["dir"] / "dogcli.db").unlink()
    assert cli("cleanup").code == 0

"""End to end: the real CLI, real headless Chromium, the replica over real HTTP, real catalogs."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Site

pytestmark = pytest.mark.browser


def catalog_rows(url: str) -> dict[tuple[str, str], tuple[str, str, int, str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("select stream, site_ts, variant, path, bytes, sha256 from captures")
        ).all()
    engine.dispose()
    return {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}


def db_url_of(site: Site) -> str:
    return site.env.get("DOGCLI_DATABASE_URL") or f"sqlite:///{site.data_dir / 'dogcli.db'}"


def expected_files(site: Site, stream: str, day: date) -> dict[str, tuple[str, bytes]]:
    """relative path -> (variant, bytes) of what the replica serves for a day."""
    out = {}
    for ts, variant, data in site.replica.expected(stream, day):
        compact = ts.replace("-", "").replace(":", "")
        out[f"images/apm/{stream}/{day}/{stream}_{compact}.jpg"] = (variant, data)
    return out


def assert_archive_matches(site: Site, days: list[date], streams: tuple[str, ...]) -> int:
    """Files byte for byte and catalog row for row equal what the replica has."""
    rows = catalog_rows(db_url_of(site))
    expected_rows = {}
    total = 0
    for stream in streams:
        for day in days:
            files = expected_files(site, stream, day)
            folder = site.data_dir / "images" / "apm" / stream / str(day)
            on_disk = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
            assert on_disk == sorted(Path(p).name for p in files)
            for rel, (variant, data) in files.items():
                assert (site.data_dir / rel).read_bytes() == data, rel
                name = Path(rel).stem.split("_", 2)[-1]
                site_ts = (
                    f"{name[0:4]}-{name[4:6]}-{name[6:8]}T{name[9:11]}:{name[11:13]}:{name[13:15]}"
                )
                expected_rows[(stream, site_ts)] = (
                    variant, rel, len(data), hashlib.sha256(data).hexdigest()
                )  # fmt: skip
            total += len(files)
    assert rows == expected_rows
    return total


def full_requests(site: Site, *days: date) -> list[Any]:
    """Full-size image requests of the given days: dogcli's downloads. (The page itself loads
    only thumbnails of the History gallery, and full images of today in its live section.)"""
    return [
        r for r in site.replica.cdn_requests()
        if not r.path.endswith("-thumbnail.jpeg") and any(f"/{d}/" in r.path for d in days)
    ]  # fmt: skip


SUMMARY_RE = re.compile(
    r"found (?P<found>\d+), new (?P<new>\d+), downloaded (?P<downloaded>\d+) "
    r"\((?P<full>\d+) full, (?P<thumbnail>\d+) thumbnail\), already had (?P<already>\d+), "
    r"failed (?P<failed>\d+)"
)


def summary_numbers(out: str) -> dict[str, int]:
    match = SUMMARY_RE.search(out)
    assert match, out
    return {key: int(value) for key, value in match.groupdict().items()}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_backfill_two_days_byte_for_byte_then_nothing(
    backend: str, make_site: Any, cli: Any, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    site = make_site(days=3, database_url=url)
    first, last = site.day(-2), site.day(-1)
    # Make sure the days hold a thumbnail-only capture and a gap, whatever the seed did.
    ds = site.dataset
    thumb_only = ds.captures("in_gate", first)[5]
    ds.remove("in_gate", thumb_only.ts)
    ds.add("in_gate", thumb_only.ts, has_full=False)
    for spec in ds.captures("out_gate", last)[20:32]:  # a two-hour outage
        ds.remove("out_gate", spec.ts)

    ran = cli("backfill", f"{first}..{last}")
    assert ran.code == 0, ran.err
    stored = assert_archive_matches(site, [first, last], ("in_gate", "out_gate"))
    numbers = summary_numbers(ran.out)
    assert numbers["found"] == numbers["new"] == numbers["downloaded"] == stored
    assert numbers["thumbnail"] >= 1 and numbers["failed"] == 0
    assert catalog_rows(db_url_of(site))[("in_gate", thumb_only.ts.isoformat())][0] == "thumbnail"
    # No full-size image was downloaded twice (the browser itself only shows thumbnails of
    # past days, and full-size images of today in the live section).
    paths = [r.path for r in full_requests(site, first, last) if r.status == 200]
    assert len(paths) == len(set(paths)) == numbers["full"]

    site.replica.reset_stats()
    again = cli("backfill", f"{first}..{last}")
    assert again.code == 0, again.err
    numbers = summary_numbers(again.out)
    assert numbers["downloaded"] == 0 and numbers["already"] == stored
    assert full_requests(site, first, last) == []
    assert_archive_matches(site, [first, last], ("in_gate", "out_gate"))


def test_fetch_today_then_only_the_new_capture(make_site: Any, cli: Any) -> None:
    site = make_site(days=2)
    ran = cli("fetch", "--stream", "in_gate")
    assert ran.code == 0, ran.err
    assert_archive_matches(site, [site.today], ("in_gate",))
    assert not (site.data_dir / "images/apm/out_gate").exists()

    newest = site.dataset.captures("in_gate", site.today)[-1].ts
    added = newest + timedelta(seconds=1)
    site.dataset.add("in_gate", added)
    site.replica.reset_stats()
    ran = cli("fetch", "--stream", "in_gate")
    assert ran.code == 0, ran.err
    numbers = summary_numbers(ran.out)
    assert (numbers["new"], numbers["downloaded"]) == (1, 1)
    full = full_requests(site, site.today)
    live = {r.path for r in full if added.strftime("%H:%M:%S") not in unquote(r.path)}
    assert len(full) - len(live) >= 1  # the new capture; the live section may show it too
    assert all(summary_numbers(ran.out)[k] == 1 for k in ("new", "downloaded"))
    assert_archive_matches(site, [site.today], ("in_gate",))


def test_fetch_catches_up_from_the_newest_capture_at_most_max_days(
    make_site: Any, cli: Any
) -> None:
    site = make_site(days=4)
    # The archive's newest capture is three days old: the machine was off.
    assert cli("backfill", str(site.day(-3)), "-s", "out_gate").code == 0
    ran = cli("fetch", "-s", "out_gate", "--max-days", "4")
    assert ran.code == 0, ran.err
    assert_archive_matches(site, [site.day(-3), site.day(-2), site.day(-1), site.today],
                           ("out_gate",))  # fmt: skip
    assert "not fetched" not in ran.err


def test_fetch_limits_catch_up_and_says_what_it_skipped(make_site: Any, cli: Any) -> None:
    site = make_site(days=4)
    assert cli("backfill", str(site.day(-3)), "-s", "in_gate").code == 0
    ran = cli("fetch", "-s", "in_gate")  # default --max-days 2
    assert ran.code == 0, ran.err
    assert "2 older days not fetched" in ran.err
    assert f"dogcli backfill {site.day(-3)}..{site.day(-2)}" in ran.err
    assert not (site.data_dir / f"images/apm/in_gate/{site.day(-2)}").exists()
    assert (site.data_dir / f"images/apm/in_gate/{site.day(-1)}").is_dir()


def test_empty_day_is_not_an_error(make_site: Any, cli: Any) -> None:
    site = make_site(days=2, empty_days=(-1,))
    ran = cli("backfill", str(site.day(-1)))
    assert ran.code == 0, ran.err
    assert summary_numbers(ran.out)["found"] == 0
    assert catalog_rows(db_url_of(site)) == {}


def test_catalog_outage_keeps_images_and_next_run_catalogs_them(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = make_site(days=2)
    day = site.day(-1)
    good_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    monkeypatch.setenv("DOGCLI_DATABASE_URL", "postgresql+psycopg://dog:hunter2@127.0.0.1:1/x")
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "1")
    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 1
    assert "hunter2" not in ran.out + ran.err
    assert "unavailable" in ran.err and "next run catalogs them" in ran.err
    files = expected_files(site, "in_gate", day)
    for rel, (_variant, data) in files.items():
        assert (site.data_dir / rel).read_bytes() == data

    monkeypatch.setenv("DOGCLI_DATABASE_URL", good_url)
    site.replica.reset_stats()
    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 0, ran.err
    assert f"cataloged {len(files)} images left uncataloged" in ran.err
    assert summary_numbers(ran.out)["downloaded"] == 0
    assert full_requests(site, day) == []
    site.env["DOGCLI_DATABASE_URL"] = good_url
    assert_archive_matches(site, [day], ("in_gate",))
    assert not (site.data_dir / ".pending.jsonl").exists()


def test_missing_file_is_downloaded_again_and_its_row_updated(make_site: Any, cli: Any) -> None:
    site = make_site(days=2)
    day = site.day(-1)
    assert cli("backfill", str(day), "-s", "out_gate").code == 0
    victim = sorted((site.data_dir / f"images/apm/out_gate/{day}").iterdir())[3]
    victim.unlink()
    ran = cli("backfill", str(day), "-s", "out_gate")
    assert ran.code == 0, ran.err
    assert summary_numbers(ran.out)["downloaded"] == 1
    assert_archive_matches(site, [day], ("out_gate",))


def test_stats_json_reports_what_was_stored(make_site: Any, cli: Any) -> None:
    site = make_site(days=2)
    assert cli("backfill", f"{site.day(-1)}..{site.today}").code == 0
    ran = cli("stats", "--json")
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    for stream in ("in_gate", "out_gate"):
        files = {**expected_files(site, stream, site.day(-1)),
                 **expected_files(site, stream, site.today)}  # fmt: skip
        entry = report["streams"][stream]
        assert entry["count"] == len(files)
        assert entry["bytes"] == sum(len(d) for _v, d in files.values())
        assert entry["today"] == len(expected_files(site, stream, site.today))
        assert entry["first"].endswith("Z") and entry["last"] > entry["first"]
    table = cli("stats")
    assert table.code == 0 and "in_gate" in table.out and "out_gate" in table.out


def test_unreachable_site_fails_the_pages_with_exit_1(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(days=1)
    site.replica.stop()
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "0")
    monkeypatch.setenv("DOGCLI_PAGE_TIMEOUT", "3")
    ran = cli("fetch", "-s", "in_gate")
    assert ran.code == 1
    assert "failed 1" in ran.out
    assert "Traceback" not in ran.err

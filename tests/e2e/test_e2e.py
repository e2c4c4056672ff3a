"""End to end: the real CLI, real headless Chromium, the replica over real HTTP, real catalogs."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Site

pytestmark = pytest.mark.browser

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One catalog row, as the new model writes it."""

    captured_at: datetime  # aware UTC
    variant: str
    path: str
    bytes: int
    sha256: str


def catalog_rows(url: str) -> dict[tuple[str, str], Row]:
    """(stream, url_ts) -> Row of every cataloged capture."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("select stream, url_ts, captured_at, variant, path, bytes, sha256 from captures")
        ).all()
    engine.dispose()
    return {(r[0], r[1]): Row(as_utc(r[2]), r[3], r[4], r[5], r[6]) for r in rows}


def as_utc(value: datetime | str) -> datetime:
    """A catalog time as an aware UTC datetime (SQLite hands back naive UTC, or text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def db_url_of(site: Site) -> str:
    return site.env.get("DOGCLI_DATABASE_URL") or f"sqlite:///{site.data_dir / 'dogcli.db'}"


@dataclass(frozen=True)
class Expected:
    """What a perfect client keeps of one capture."""

    stamp: str  # as in the replica's URLs
    taken: datetime  # the instant, aware UTC
    variant: str
    data: bytes


def expected_files(site: Site, stream: str, day: date) -> dict[str, Expected]:
    """relative path -> what the replica serves for a local day: files under the local day's
    folder, named after the capture's UTC time."""
    rep = site.replica
    instants = {rep.stamp(spec.utc): spec.utc for spec in rep.captures(stream, day)}
    out = {}
    for stamp, variant, data in rep.expected(stream, day):
        taken = instants[stamp]
        rel = f"images/apm/{stream}/{day}/{stream}_{taken:%Y%m%dT%H%M%S}Z.jpg"
        out[rel] = Expected(stamp, taken, variant, data)
    return out


def assert_archive_matches(site: Site, days: list[date], streams: tuple[str, ...]) -> int:
    """Files byte for byte and catalog row for row equal what the replica has: one row per
    capture keyed by its URL stamp, captured_at the instant, the file in its local day's
    folder. Returns how many captures that is."""
    rows = catalog_rows(db_url_of(site))
    expected_rows = {}
    total = 0
    for stream in streams:
        for day in days:
            files = expected_files(site, stream, day)
            folder = site.data_dir / "images" / "apm" / stream / str(day)
            on_disk = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
            assert on_disk == sorted(Path(p).name for p in files), (stream, day)
            for rel, want in files.items():
                assert (site.data_dir / rel).read_bytes() == want.data, rel
                expected_rows[(stream, want.stamp)] = Row(
                    want.taken,
                    want.variant,
                    rel,
                    len(want.data),
                    hashlib.sha256(want.data).hexdigest(),
                )
            total += len(files)
    assert rows == expected_rows
    return total


def full_paths(site: Site, stream: str, *days: date) -> set[str]:
    """CDN paths (decoded) of the full-size images of a stream's local days."""
    rep = site.replica
    return {
        "/cdn" + rep.cdn_path(stream, spec.utc, "full")
        for day in days
        for spec in rep.captures(stream, day)
    }


def full_requests(site: Site, *days: date) -> list[Any]:
    """dogcli's own requests (its User-Agent) for full-size images of the given local days,
    whatever the URL's UTC date. (The page itself loads the History's thumbnails and, in its
    live section, the newest full-size images.)"""
    wanted = set().union(*(full_paths(site, s, *days) for s in site.dataset.streams))
    return [
        r for r in site.replica.cdn_requests()
        if r.agent.startswith("dogcli/") and unquote(r.path) in wanted
    ]  # fmt: skip


def wait_for(read: Callable[[], T], until: Callable[[T], bool] = bool, timeout: float = 5.0) -> T:
    """`read()` once `until` holds of it, or its last value after `timeout` s. The replica
    records a request just after sending its answer, so a client may be done before the
    record is there."""
    deadline = time.monotonic() + timeout
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


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
    ds.remove("in_gate", thumb_only.utc)
    ds.add("in_gate", thumb_only.utc, has_full=False)
    for spec in ds.captures("out_gate", last)[20:32]:  # a two-hour outage
        ds.remove("out_gate", spec.utc)
    # A local day's gallery holds URLs of two UTC dates: the evening's are the next UTC date.
    stamps = {site.replica.stamp(c.utc)[:10] for c in ds.captures("in_gate", first)}
    assert stamps == {str(first), str(first + timedelta(days=1))}

    ran = cli("backfill", f"{first}..{last}")
    assert ran.code == 0, ran.err
    stored = assert_archive_matches(site, [first, last], ("in_gate", "out_gate"))
    numbers = summary_numbers(ran.out)
    assert numbers["found"] == numbers["new"] == numbers["downloaded"] == stored
    assert numbers["thumbnail"] >= 1 and numbers["failed"] == 0
    row = catalog_rows(db_url_of(site))[("in_gate", site.replica.stamp(thumb_only.utc))]
    assert (row.variant, row.captured_at) == ("thumbnail", thumb_only.utc)
    # No full-size image was downloaded twice; every one dogcli fetched is cataloged.
    ok = wait_for(lambda: [r.path for r in full_requests(site, first, last) if r.status == 200],
                  until=lambda paths: len(paths) >= numbers["full"])  # fmt: skip
    assert len(ok) == len(set(ok)) == numbers["full"]

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

    newest = site.dataset.captures("in_gate", site.today)[-1].utc
    added = newest + timedelta(seconds=1)
    site.dataset.add("in_gate", added)
    site.replica.reset_stats()
    ran = cli("fetch", "--stream", "in_gate")
    assert ran.code == 0, ran.err
    numbers = summary_numbers(ran.out)
    assert (numbers["new"], numbers["downloaded"], numbers["full"]) == (1, 1, 1)
    # dogcli downloaded the new capture's full size and nothing else (the live section of
    # the page may show it too, but those are the browser's requests). It may ask again for
    # the full size of a capture it kept as a thumbnail while the day has not settled: those
    # are still 404s.
    rep = site.replica
    new_path = "/cdn" + rep.cdn_path("in_gate", added, "full")
    thumb_only = {
        "/cdn" + rep.cdn_path("in_gate", s.utc, "full")
        for s in rep.published("in_gate", site.today)
        if not s.has_full
    }
    fetched = wait_for(
        lambda: [(unquote(r.path), r.status) for r in full_requests(site, site.today)],
        until=lambda got: any(path == new_path for path, _status in got),
    )
    assert [path for path, status in fetched if status == 200] == [new_path]
    assert {path for path, status in fetched if path != new_path} <= thumb_only
    assert all(status == 404 for path, status in fetched if path != new_path)
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
    assert "not read" not in ran.err


def test_fetch_limits_catch_up_and_says_what_it_skipped(make_site: Any, cli: Any) -> None:
    site = make_site(days=5)
    # The archive begins four days ago (a settled day); the three days since were never read.
    assert cli("backfill", str(site.day(-4)), "-s", "in_gate").code == 0
    ran = cli("fetch", "-s", "in_gate", "--max-days", "2")
    assert ran.code == 0, ran.err
    assert "2 older days not read" in ran.err
    assert f"dogcli backfill {site.day(-3)}..{site.day(-2)}" in ran.err
    assert not (site.data_dir / f"images/apm/in_gate/{site.day(-3)}").exists()
    assert not (site.data_dir / f"images/apm/in_gate/{site.day(-2)}").exists()
    assert_archive_matches(site, [site.day(-4), site.day(-1), site.today], ("in_gate",))


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
    for rel, want in files.items():
        assert (site.data_dir / rel).read_bytes() == want.data

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
        assert entry["bytes"] == sum(len(f.data) for f in files.values())
        assert entry["today"] == len(expected_files(site, stream, site.today))
        # first/last: the capture instants in UTC, not the stamps re-read in another zone
        taken = sorted(f.taken for f in files.values())
        assert entry["first"] == taken[0].isoformat().replace("+00:00", "Z")
        assert entry["last"] == taken[-1].isoformat().replace("+00:00", "Z")
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

"""Fidelity to the real site's time model (SITE.md, "Time"), through the real CLI.

Image URLs are stamped in UTC while the page's days are local days of America/Los_Angeles, so
one local day's History holds URLs of two UTC dates. A backfill of one local day must store
exactly that day's captures, byte for byte, each cataloged with its URL stamp (`url_ts`) and
its instant (`captured_at`, the stamp read as UTC), in the local day's folder under its UTC
name; on every page variant SITE.md leaves open, on both DST days, on a stream without a
camera, and with a site whose URLs would be stamped in local time.

Every test runs `dogcli backfill` or `dogcli fetch` in-process (one headless Chromium each)
against the replica, whose clock, like dogcli's, is fixed in 2025 (`make_site(now=...)`).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Site
from tests.e2e.test_e2e import (
    assert_archive_matches,
    catalog_rows,
    db_url_of,
    expected_files,
    full_requests,
    summary_numbers,
)

pytestmark = pytest.mark.browser

LA = ZoneInfo("America/Los_Angeles")
STREAMS = ("in_gate", "out_gate")

DAY = date(2025, 10, 15)  # an ordinary day (PDT, UTC-7): UTC dates 10-15 and 10-16
NOW = datetime(2025, 10, 17, 12, 0, tzinfo=LA)  # the site's and dogcli's clock
AUTUMN = date(2025, 11, 2)  # 25 hours: 01:00-01:59 twice (PDT, then PST)
SPRING = date(2025, 3, 9)  # 23 hours: no 02:xx
DST_NOW = datetime(2025, 11, 5, 12, 0, tzinfo=LA)
# One capture about every 30 min (not 10): the same paths with a sixth of the downloads and
# lazy images, and still more than two pages of 20.
SPARSE = {"interval": 1800, "outage_rate": 0.0}
PAGE_SIZE = 20


def one_day_site(make_site: Any, **kwargs: Any) -> Site:
    """The day with its neighbours (whose captures share its two UTC dates), one capture of
    each stream thumbnail-only (kept as the thumbnail), and one at 23:59:59 local (the next
    UTC date's 06:59:59, the last second of the day)."""
    site: Site = make_site(
        days=[DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)],
        now=NOW,
        dataset_kwargs=SPARSE,
        **kwargs,
    )
    for stream in STREAMS:
        thumb_only = site.dataset.captures(stream, DAY)[7]
        site.dataset.add(stream, thumb_only.utc, has_full=False)
        site.dataset.add(stream, datetime(2025, 10, 16, 6, 59, 59, tzinfo=UTC))
    return site


def backfill(site: Site, cli: Any, day: date, *more: str) -> dict[str, int]:
    started = time.monotonic()
    ran = cli("backfill", str(day), *more)
    print(f"backfill {day} {' '.join(more)}: {time.monotonic() - started:.1f}s")
    assert ran.code == 0, ran.err
    numbers = summary_numbers(ran.out)
    assert numbers["failed"] == 0
    return numbers


def assert_exactly_the_day(site: Site, day: date, streams: tuple[str, ...] = STREAMS) -> int:
    """The day's captures and nothing else: files, folders and rows (assert_archive_matches
    checks the files byte for byte and the rows, keyed by URL stamp, with captured_at)."""
    stored = assert_archive_matches(site, [day], streams)
    for stream in streams:
        folders = sorted(p.name for p in (site.data_dir / "images/apm" / stream).iterdir())
        assert folders == [str(day)], stream
    assert len(catalog_rows(db_url_of(site))) == stored
    return stored


def check_utc_rows(site: Site, day: date) -> None:
    """Against a UTC-stamped site: captured_at is the URL stamp read as UTC, the day's stamps
    span two UTC dates, and each file is named after its stamp (with a Z)."""
    start, end = site.dataset.day_range(day)
    rows = catalog_rows(db_url_of(site))
    dates = set()
    for (stream, url_ts), row in rows.items():
        taken = datetime.fromisoformat(url_ts).replace(tzinfo=UTC)
        assert row.captured_at == taken, (stream, url_ts)
        assert start <= taken < end
        assert row.path.endswith(f"/{day}/{stream}_{taken:%Y%m%dT%H%M%S}Z.jpg")
        dates.add(url_ts[:10])
    assert dates == {str(day), str(day + timedelta(days=1))}


def history_queries(site: Site) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r.path).query) for r in site.replica.api_requests("history")]


# -- one local day, exactly ------------------------------------------------------------------


def test_backfill_one_local_day_stores_exactly_its_captures(
    make_site: Any, cli: Any, db_url: str
) -> None:
    site = one_day_site(make_site, database_url=db_url, gallery="window-lazy")
    # The day's gallery holds URLs of two UTC dates; its neighbours' captures share them.
    stamps = {site.replica.stamp(c.utc)[:10] for c in site.dataset.captures("in_gate", DAY)}
    assert stamps == {"2025-10-15", "2025-10-16"}
    for neighbour in (DAY - timedelta(days=1), DAY + timedelta(days=1)):
        dates = {
            site.replica.stamp(c.utc)[:10] for c in site.dataset.captures("in_gate", neighbour)
        }
        assert dates & stamps

    numbers = backfill(site, cli, DAY)
    stored = assert_exactly_the_day(site, DAY)
    check_utc_rows(site, DAY)
    assert numbers["found"] == numbers["new"] == numbers["downloaded"] == stored
    assert numbers["thumbnail"] >= 2  # the two thumbnail-only captures
    last = catalog_rows(db_url_of(site))[("in_gate", "2025-10-16T06:59:59")]
    assert last.path == "images/apm/in_gate/2025-10-15/in_gate_20251016T065959Z.jpg"
    # Each full size was downloaded once, by dogcli.
    paths = [r.path for r in full_requests(site, DAY) if r.status == 200]
    assert len(paths) == len(set(paths)) == numbers["full"]


# -- the page variants SITE.md leaves open ---------------------------------------------------

VARIANTS = {
    "container-lazy": {"gallery": "container-lazy"},
    "eager": {"gallery": "eager"},
    "paginated": {"page_size": PAGE_SIZE},
    "no-loading-mask": {"loading_mask": False},
    "heading": {"heading": "Camera History"},
    # The page computes the day's range with JS Date in the browser's zone: right only
    # because dogcli runs Chromium with TZ=America/Los_Angeles (this process runs in UTC).
    "browser-zone": {"page_zone": "browser"},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_page_variant_gives_the_same_archive(make_site: Any, cli: Any, variant: str) -> None:
    site = one_day_site(make_site, **VARIANTS[variant])
    numbers = backfill(site, cli, DAY)
    stored = assert_exactly_the_day(site, DAY)
    check_utc_rows(site, DAY)
    assert numbers["found"] == numbers["downloaded"] == stored
    if variant == "paginated":
        # The pager is the page's own (client-side): each page shows only PAGE_SIZE images,
        # so a stream with more than two pages' worth was read page after page.
        for stream in STREAMS:
            count = len(expected_files(site, stream, DAY))
            assert count > 2 * PAGE_SIZE, (stream, count)
    if variant == "browser-zone":
        start, end = site.dataset.day_range(DAY)  # 07:00Z to 07:00Z next day
        asked = [q for q in history_queries(site) if q.get("start")]
        assert asked and all("date" not in q for q in history_queries(site))
        day_queries = [
            q
            for q in asked
            if datetime.fromisoformat(q["start"][0].replace("Z", "+00:00")) == start
        ]
        assert len(day_queries) == len(STREAMS)
        for q in day_queries:
            assert datetime.fromisoformat(q["end"][0].replace("Z", "+00:00")) == end


# -- the DST days ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "db_url"),
    [(AUTUMN, "sqlite"), (AUTUMN, "postgresql"), (SPRING, "sqlite")],
    ids=["2025-11-02-25h-sqlite", "2025-11-02-25h-postgresql", "2025-03-09-23h-sqlite"],
    indirect=["db_url"],
)
def test_dst_day_is_complete(make_site: Any, cli: Any, day: date, db_url: str) -> None:
    site: Site = make_site(
        days=[day - timedelta(days=1), day, day + timedelta(days=1)],
        now=DST_NOW,
        database_url=db_url,
        dataset_kwargs={"interval": 1200, "outage_rate": 0.0, "thumb_only_rate": 0.0},
    )
    start, end = site.dataset.day_range(day)
    hours = {AUTUMN: 25, SPRING: 23}[day]
    assert end - start == timedelta(hours=hours)
    numbers = backfill(site, cli, day, "-s", "in_gate")
    stored = assert_exactly_the_day(site, day, ("in_gate",))
    check_utc_rows(site, day)
    assert numbers["found"] == stored >= hours * 3 - 3  # about every 20 min, all day long

    taken = sorted(row.captured_at for row in catalog_rows(db_url_of(site)).values())
    assert taken[0] - start < timedelta(minutes=21) and end - taken[-1] < timedelta(minutes=21)
    # the local wall hours the day has, each one holding captures
    walls = [t.astimezone(LA) for t in taken]
    by_hour: dict[tuple[int, int], int] = {}
    for w in walls:
        key = (w.hour, w.fold)
        by_hour[key] = by_hour.get(key, 0) + 1
    if day == AUTUMN:
        # 01:xx twice: first in PDT (08:xx UTC), then in PST (09:xx UTC)
        assert by_hour.get((1, 0), 0) >= 2 and by_hour.get((1, 1), 0) >= 2
        early = [t for t, w in zip(taken, walls, strict=True) if w.hour == 1]
        assert {t.hour for t in early} == {8, 9}
        assert {w.utcoffset() for w in walls if w.hour == 1} == {
            timedelta(hours=-7),
            timedelta(hours=-8),
        }
        assert len(by_hour) == 25
    else:
        assert 2 not in {h for h, _ in by_hour}  # 02:xx does not exist that night
        assert len(by_hour) == 23
    # one file per capture: UTC names never collide, not even in the repeated hour
    files = list((site.data_dir / "images/apm/in_gate" / str(day)).iterdir())
    assert len(files) == stored


# -- a stream without a camera ----------------------------------------------------------------


def test_no_camera_is_reported_once_and_fast_the_other_stream_is_archived(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    page_timeout = 30.0
    today = date(2025, 10, 16)
    site: Site = make_site(
        days=[today],
        now=datetime(2025, 10, 16, 9, 0, tzinfo=LA),
        dataset_kwargs=SPARSE,
        no_camera=("out_gate",),
    )
    monkeypatch.setenv("DOGCLI_PAGE_TIMEOUT", str(page_timeout))
    started = time.monotonic()
    ran = cli("fetch")
    ended = time.monotonic()
    assert ran.code == 0, ran.err
    out_page = [
        r.time
        for r in site.replica.requests
        if r.path.startswith("/terminal_cameras/") and "streamName=out_gate" in r.path
    ]
    assert len(out_page) == 1  # one look, no retries
    detected = ended - out_page[0]
    total = ended - started
    print(f"no camera: out_gate page to end of run {detected:.2f}s; whole fetch {total:.2f}s")
    assert detected < page_timeout / 5  # seen on the page, not waited out
    assert total < page_timeout

    lines = [line for line in (ran.out + ran.err).splitlines() if "out_gate" in line]
    notes = [line for line in lines if "No camera found" in line]
    assert len(notes) == 1, lines
    assert "fetch: " in ran.out and "no camera: out_gate" in ran.out
    assert len(lines) == 2, lines  # the note and the summary, nothing else about out_gate
    assert_archive_matches(site, [today], ("in_gate",))
    assert len(expected_files(site, "in_gate", today)) > 0
    assert not (site.data_dir / "images/apm/out_gate").exists()


# -- a site whose URL stamps are local time -------------------------------------------------


def test_local_url_stamps_with_matching_setting(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = one_day_site(make_site, url_timezone="America/Los_Angeles")
    monkeypatch.setenv("DOGCLI_URL_TIMEZONE", "America/Los_Angeles")
    site.env["DOGCLI_URL_TIMEZONE"] = "America/Los_Angeles"
    numbers = backfill(site, cli, DAY)
    stored = assert_exactly_the_day(site, DAY)  # captured_at: the instant, not the stamp
    assert numbers["found"] == numbers["downloaded"] == stored
    rows = catalog_rows(db_url_of(site))
    assert {url_ts[:10] for _stream, url_ts in rows} == {str(DAY)}  # local stamps: one date
    for (stream, url_ts), row in rows.items():
        assert row.captured_at == datetime.fromisoformat(url_ts).replace(tzinfo=LA)
        assert row.path.endswith(f"{stream}_{row.captured_at:%Y%m%dT%H%M%S}Z.jpg")
    last = rows[("in_gate", "2025-10-15T23:59:59")]
    assert last.path == "images/apm/in_gate/2025-10-15/in_gate_20251016T065959Z.jpg"

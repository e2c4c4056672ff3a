"""The time model of SITE.md ("Time"): image URLs are stamped in UTC, the page's days are local
days of America/Los_Angeles. A capture is its stamp read in the URL zone; its local day names
its folder, its UTC time its file. Migration 0003 brings a catalog of the earlier reading
(stamps read as Los Angeles time) to this one, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from dogcli.catalog import db
from dogcli.catalog.captures import Catalog, as_utc
from dogcli.catalog.models import CaptureRow
from dogcli.catalog.revisions import scripted_head
from dogcli.config import load_settings
from dogcli.jobs.plan import fetch_plan, site_today
from dogcli.model import clock
from dogcli.model.captures import Zones, capture_from_path, parse_image_url
from dogcli.model.layout import rel_path

LA = ZoneInfo("America/Los_Angeles")
ZONES = Zones(LA, ZoneInfo("UTC"))
CDN = "https://cdn.draydog.com"


# -- stamps, instants and days ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "utc", "day"),
    [
        # SITE.md's own example: 00:20 UTC is 17:20 PDT the evening before.
        ("2025-09-06T00:20:27", datetime(2025, 9, 6, 0, 20, 27, tzinfo=UTC), date(2025, 9, 5)),
        ("2025-09-06T06:59:59", datetime(2025, 9, 6, 6, 59, 59, tzinfo=UTC), date(2025, 9, 5)),
        ("2025-09-06T07:00:00", datetime(2025, 9, 6, 7, tzinfo=UTC), date(2025, 9, 6)),
        ("2025-09-08T20:06:26", datetime(2025, 9, 8, 20, 6, 26, tzinfo=UTC), date(2025, 9, 8)),
        # Winter: PST, 8 hours behind.
        ("2025-01-15T07:59:59", datetime(2025, 1, 15, 7, 59, 59, tzinfo=UTC), date(2025, 1, 14)),
        ("2025-01-15T08:00:00", datetime(2025, 1, 15, 8, tzinfo=UTC), date(2025, 1, 15)),
        # New Year's Eve in Los Angeles is already next year in UTC.
        ("2026-01-01T03:00:00", datetime(2026, 1, 1, 3, tzinfo=UTC), date(2025, 12, 31)),
    ],
)
def test_stamp_to_instant_to_local_day(stamp: str, utc: datetime, day: date) -> None:
    capture = ZONES.capture("apm", "in_gate", stamp)
    assert capture.taken == utc and capture.taken.utcoffset() == timedelta(0)
    assert capture.day == day == ZONES.day_of(utc)
    assert capture.url_ts == stamp == ZONES.stamp(utc)
    start, end = ZONES.day_bounds(day)
    assert start <= capture.taken < end


def test_the_capture_of_sitemd_end_to_end() -> None:
    url = f"{CDN}/apm/2025-09-06/0/2025-09-06T00:20:27-in_gate.jpeg"
    parsed = parse_image_url(url, CDN, "apm", ZONES)
    assert parsed is not None
    capture, variant = parsed
    assert variant == "full"
    assert capture.day == date(2025, 9, 5)
    assert capture.rel_path == "images/apm/in_gate/2025-09-05/in_gate_20250906T002027Z.jpg"
    assert capture.url(CDN) == url
    assert capture_from_path("apm", "in_gate", "in_gate_20250906T002027Z.jpg", ZONES) == (
        capture,
        False,
    )
    # The earlier layout named the file after the stamp, in the stamp's date folder.
    legacy = capture_from_path("apm", "in_gate", "in_gate_20250906T002027.jpg", ZONES)
    assert legacy is not None and legacy == (capture, True)
    assert legacy[0].rel_path == capture.rel_path


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2025, 3, 8), 24),
        (date(2025, 3, 9), 23),  # spring forward
        (date(2025, 3, 10), 24),
        (date(2025, 9, 5), 24),
        (date(2025, 11, 1), 24),
        (date(2025, 11, 2), 25),  # fall back
        (date(2025, 11, 3), 24),
        (date(2026, 3, 8), 23),
        (date(2026, 11, 1), 25),
    ],
)
def test_day_bounds(day: date, hours: int) -> None:
    start, end = ZONES.day_bounds(day)
    assert start.utcoffset() == end.utcoffset() == timedelta(0)
    assert end - start == timedelta(hours=hours)
    assert start.astimezone(LA).replace(tzinfo=None) == datetime.combine(day, datetime.min.time())
    assert ZONES.day_bounds(day + timedelta(days=1))[0] == end  # days tile the time line


def test_every_ten_minutes_across_both_dst_changes_lands_in_its_day() -> None:
    """Captures every 10 minutes around the changes of 2025: each falls inside its own day's
    bounds, no two share a file, and each day holds 6 per hour of its length."""
    per_day: dict[date, int] = {}
    paths: set[str] = set()
    for first in (datetime(2025, 3, 8, 8, tzinfo=UTC), datetime(2025, 11, 1, 7, tzinfo=UTC)):
        for step in range(3 * 24 * 6):
            moment = first + timedelta(minutes=10 * step)
            capture = ZONES.capture("apm", "in_gate", ZONES.stamp(moment))
            assert capture.taken == moment
            start, end = ZONES.day_bounds(capture.day)
            assert start <= moment < end
            per_day[capture.day] = per_day.get(capture.day, 0) + 1
            paths.add(capture.rel_path)
    assert per_day[date(2025, 3, 9)] == 23 * 6
    assert per_day[date(2025, 11, 2)] == 25 * 6
    assert per_day[date(2025, 3, 8)] == per_day[date(2025, 11, 1)] == 24 * 6
    assert len(paths) == sum(per_day.values())


def test_the_repeated_local_hour_of_autumn_is_two_captures() -> None:
    """01:30 happens twice in Los Angeles on 2025-11-02; the UTC stamps differ."""
    first = ZONES.capture("apm", "in_gate", "2025-11-02T08:30:00")
    second = ZONES.capture("apm", "in_gate", "2025-11-02T09:30:00")
    assert first.taken.astimezone(LA).strftime("%H:%M") == "01:30"
    assert second.taken.astimezone(LA).strftime("%H:%M") == "01:30"
    assert first != second and first < second
    assert first.day == second.day == date(2025, 11, 2)
    assert first.rel_path != second.rel_path
    assert second.rel_path == "images/apm/in_gate/2025-11-02/in_gate_20251102T093000Z.jpg"


def test_url_zone_of_the_earlier_reading() -> None:
    """DOGCLI_URL_TIMEZONE=America/Los_Angeles reads a stamp as local time, as before."""
    zones = Zones(LA, LA)
    capture = zones.capture("apm", "in_gate", "2025-09-06T00:20:27")
    assert capture.taken == datetime(2025, 9, 6, 7, 20, 27, tzinfo=UTC)
    assert capture.day == date(2025, 9, 6)
    assert capture.rel_path == "images/apm/in_gate/2025-09-06/in_gate_20250906T072027Z.jpg"
    assert capture.url(CDN).endswith("/apm/2025-09-06/0/2025-09-06T00:20:27-in_gate.jpeg")
    assert capture_from_path("apm", "in_gate", "in_gate_20250906T072027Z.jpg", zones) == (
        capture,
        False,
    )


def test_rel_path_function() -> None:
    taken = datetime(2025, 9, 6, 0, 20, 27, tzinfo=UTC)
    assert rel_path("apm", "out_gate", date(2025, 9, 5), taken) == (
        "images/apm/out_gate/2025-09-05/out_gate_20250906T002027Z.jpg"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/apm/2025-09-06/0/2025-09-06T00:20:27-in_gate.jpeg",
        "/apm/2025-09-06/00/2025-09-06T00:20:27-in_gate.jpeg",  # padded
        "/apm/2025-09-05/0/2025-09-06T00:20:27-in_gate.jpeg",  # local date folder
        "/apm/2025-09-06/17/2025-09-06T00:20:27-in_gate.jpeg",  # local hour folder
        "/apm/2025-09-06/9/2025-09-06T09:00:00-in_gate.jpeg",
        "/apm/2025-09-06/09/2025-09-06T09:00:00-in_gate.jpeg",  # padded
        "/apm/2025-09-06/23/2025-09-06T23:59:59-in_gate.jpeg",
        "/apm/2025-09-06/10/2025-09-06T01:00:00-in_gate.jpeg",  # "1" + "0"?
    ],
)
def test_hour_folders_are_not_padded_and_must_match(path: str) -> None:
    parsed = parse_image_url(CDN + path, CDN, "apm", ZONES)
    folder_day, hour, name = path.split("/")[2:5]
    stamp = name[:19]
    matches = folder_day == stamp[:10] and hour == str(int(stamp[11:13]))
    assert (parsed is not None) == matches
    if parsed is not None:
        assert parsed[0].url(CDN) == CDN + path
    other_host = parse_image_url("https://cdn.example.com" + path, CDN, "apm", ZONES)
    assert other_host is None


# -- the clock ----------------------------------------------------------------------------------


@pytest.fixture
def set_now() -> Iterator[Any]:
    def set_to(moment: datetime) -> None:
        clock.set_source(lambda: moment)

    try:
        yield set_to
    finally:
        clock.set_source(None)


def test_clock_drives_today(set_now: Any) -> None:
    settings = load_settings(env={})
    set_now(datetime(2025, 9, 6, 6, 59, 59, tzinfo=UTC))
    assert site_today(settings) == date(2025, 9, 5)
    set_now(datetime(2025, 9, 6, 7, 0, 0, tzinfo=UTC))
    assert site_today(settings) == date(2025, 9, 6)
    set_now(datetime(2025, 9, 6, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")))  # an aware non-UTC now
    assert clock.now() == datetime(2025, 9, 6, 0, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    assert site_today(settings) == date(2025, 9, 5)
    clock.set_source(None)
    real = datetime.now(UTC)
    assert abs(clock.now() - real) < timedelta(minutes=1)


def test_backfill_refuses_a_day_after_the_clocks_today(
    set_now: Any, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path))
    set_now(datetime(2025, 9, 6, 6, 59, 59, tzinfo=UTC))  # 23:59:59 on 2025-09-05 locally
    ran = cli("backfill", "2025-09-06")
    assert ran.code == 2
    assert "2025-09-06 is in the future (today is 2025-09-05)" in ran.err


def test_fetch_plan_starts_at_the_local_day_of_the_newest_capture(
    set_now: Any, tmp_path: Path
) -> None:
    """The newest capture is stamped 2025-09-06 but belongs to 2025-09-05: fetch reads that
    day again (it may not be complete), then every day through the clock's today."""
    settings = load_settings(env={"DOGCLI_DATA_DIR": str(tmp_path), "DOGCLI_STREAMS": "in_gate"})
    with Catalog(settings.effective_database_url) as catalog:
        catalog.upgrade()
        catalog.insert([_record("2025-09-06T00:20:27")], ZONES.url)
        set_now(datetime(2025, 9, 7, 8, 0, tzinfo=UTC))  # 01:00 on 2025-09-07 locally
        plan = fetch_plan(settings, catalog, ["in_gate"], max_days=7)
        assert plan.pages == [("in_gate", date(2025, 9, d)) for d in (5, 6, 7)]
        assert plan.notes == [] and plan.retries == []
        plan = fetch_plan(settings, catalog, ["in_gate"], max_days=1)
        assert plan.pages == [("in_gate", date(2025, 9, 7))]
        assert plan.notes and "2025-09-05..2025-09-06" in plan.notes[0]


def _record(stamp: str, stream: str = "in_gate") -> Any:
    from dogcli.storage.base import StoredFile

    capture = ZONES.capture("apm", stream, stamp)
    return StoredFile("apm", stream, stamp, "full", capture.rel_path, 100,
                      hashlib.sha256(stamp.encode()).hexdigest(), capture.url(CDN),
                      "2025-09-07T00:00:00+00:00")  # fmt: skip


# -- migration 0003 -----------------------------------------------------------------------------

# Captures as the earlier version cataloged them: the stamp as in the URL, captured_at the
# stamp read as Los Angeles time (fold=0, Python's reading).
STAMPS = [
    "2025-09-06T00:20:27",  # SITE.md's example: local day 2025-09-05
    "2025-09-06T07:03:17",
    "2025-01-15T23:59:59",  # winter
    "2025-11-02T01:30:00",  # an hour that repeats in Los Angeles
    "2025-03-09T02:30:00",  # an hour that does not exist in Los Angeles
    "2025-11-02T09:30:00",
]

_OLD = sa.MetaData()
_OLD_CAPTURES = sa.Table(
    "captures",
    _OLD,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("terminal", sa.String(64)),
    sa.Column("stream", sa.String(64)),
    sa.Column("site_ts", sa.String(19)),
    sa.Column("captured_at", sa.DateTime(timezone=True)),
    sa.Column("variant", sa.String(16)),
    sa.Column("path", sa.Text),
    sa.Column("bytes", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("source_url", sa.Text),
    sa.Column("downloaded_at", sa.DateTime(timezone=True)),
)


def _old_captured_at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=LA).astimezone(UTC)


def build_0002_catalog(url: str) -> None:
    """A catalog at revision 0002 with rows written the way the earlier version wrote them."""
    from alembic import command

    engine = db.make_engine(url)
    try:
        config = db.alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
        rows = []
        for stamp in STAMPS:
            compact = stamp.replace("-", "").replace(":", "")
            rows.append({
                "terminal": "apm", "stream": "in_gate", "site_ts": stamp,
                "captured_at": _old_captured_at(stamp), "variant": "full",
                "path": f"images/apm/in_gate/{stamp[:10]}/in_gate_{compact}.jpg",
                "bytes": 1000, "sha256": hashlib.sha256(stamp.encode()).hexdigest(),
                "source_url": f"{CDN}/apm/{stamp[:10]}/{int(stamp[11:13])}/{stamp}-in_gate.jpeg",
                "downloaded_at": datetime(2025, 12, 1, tzinfo=UTC),
            })  # fmt: skip
        with engine.begin() as connection:
            connection.execute(_OLD_CAPTURES.insert(), rows)
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == "0002"
            columns = {c["name"] for c in sa.inspect(connection).get_columns("captures")}
            assert "site_ts" in columns and "url_ts" not in columns
    finally:
        engine.dispose()


def read_rows(catalog: Catalog) -> dict[str, tuple[datetime, str, int]]:
    with catalog.engine.connect() as conn:
        cols = (CaptureRow.url_ts, CaptureRow.captured_at, CaptureRow.path, CaptureRow.bytes)
        result = conn.execute(sa.select(*cols))
        return {ts: (as_utc(at), path, size) for ts, at, path, size in result}


def test_0003_reads_stamps_as_utc(db_url: str) -> None:
    build_0002_catalog(db_url)
    with Catalog(db_url) as catalog:
        assert catalog.schema_status() == ("0002", scripted_head())
        assert catalog.upgrade() is True
        assert catalog.schema_status() == (scripted_head(), scripted_head())
        rows = read_rows(catalog)
        assert sorted(rows) == sorted(STAMPS)  # url_ts is the old site_ts, unchanged
        for stamp, (at, path, size) in rows.items():
            assert at == datetime.fromisoformat(stamp).replace(tzinfo=UTC), stamp
            compact = stamp.replace("-", "").replace(":", "")
            assert size == 1000 and path.endswith(f"_{compact}.jpg")
        # What the migration computes agrees with what dogcli computes for a new capture.
        for stamp, (at, _path, _size) in rows.items():
            assert at == ZONES.capture("apm", "in_gate", stamp).taken
        # The capture stamped 2025-09-06 00:20 UTC is now found in its local day.
        have = catalog.have_day("apm", "in_gate", *ZONES.day_bounds(date(2025, 9, 5)))
        assert sorted(have) == ["2025-09-06T00:20:27"]
        have = catalog.have_day("apm", "in_gate", *ZONES.day_bounds(date(2025, 9, 6)))
        assert sorted(have) == ["2025-09-06T07:03:17"]
        # The identity survives: the same capture offered again is not a second row.
        catalog.insert([_record(s) for s in STAMPS], ZONES.url)
        assert len(read_rows(catalog)) == len(STAMPS)
        assert catalog.upgrade() is False  # once only: captured_at is not shifted twice
        assert read_rows(catalog) == rows


def test_0003_with_stamps_read_as_site_time_changes_nothing(db_url: str) -> None:
    """DOGCLI_URL_TIMEZONE=America/Los_Angeles keeps the earlier reading of the stamps."""
    build_0002_catalog(db_url)
    with Catalog(db_url, url_timezone="America/Los_Angeles") as catalog:
        assert catalog.upgrade() is True
        rows = read_rows(catalog)
        assert sorted(rows) == sorted(STAMPS)
        zones = Zones(LA, LA)
        for stamp, (at, _path, _size) in rows.items():
            if stamp == REPEATED:
                continue  # see the next test
            assert at == _old_captured_at(stamp) == zones.capture("apm", "in_gate", stamp).taken


REPEATED = "2025-11-02T01:30:00"


def test_0003_with_site_time_stamps_keeps_the_repeated_hour(db_url: str) -> None:
    """A stamp in the hour that repeats in Los Angeles: dogcli reads it as its first
    occurrence (Zones.to_utc, Catalog.insert, the earlier version, 0003 on SQLite: 08:30Z).
    0003 on PostgreSQL uses AT TIME ZONE, which takes the second occurrence (09:30Z)."""
    build_0002_catalog(db_url)
    with Catalog(db_url, url_timezone="America/Los_Angeles") as catalog:
        catalog.upgrade()
        at = read_rows(catalog)[REPEATED][0]
    assert at == _old_captured_at(REPEATED) == datetime(2025, 11, 2, 8, 30, tzinfo=UTC)
    assert at == Zones(LA, LA).capture("apm", "in_gate", REPEATED).taken


def test_db_upgrade_command_migrates_with_the_url_zone(
    db_url: str, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_0002_catalog(db_url)
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    ran = cli("db", "upgrade")
    assert ran.code == 0, ran.err
    assert f"upgraded to revision {scripted_head()}" in ran.out + ran.err
    with Catalog(db_url) as catalog:
        rows = read_rows(catalog)
    at = rows["2025-09-06T00:20:27"][0]
    assert at == datetime(2025, 9, 6, 0, 20, 27, tzinfo=UTC)
    assert cli("db", "upgrade").code == 0
    with Catalog(db_url) as catalog:
        assert read_rows(catalog) == rows  # a second upgrade is a no-op

"""Timelines replayed with a moved clock: the site's and dogcli's clock move together, and
`dogcli fetch` alone, run as the timer runs it, must archive every capture byte for byte,
full size wherever it exists; `gaps` and `health` report a gap until it is filled and
`backfill --gaps` fills it.

Real parts throughout: the replica (real Vue + Element Plus page, real HTTP), headless
Chromium through the real CLI, SQLite files and the suite's PostgreSQL server.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dogcli.catalog.captures import Catalog
from dogcli.catalog.models import CaptureRow, DayRow, WantedRow
from dogcli.model import clock

LA = ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.browser


@dataclass
class Clock:
    """The one clock of a timeline: the replica and dogcli both read it."""

    t: datetime

    def __call__(self) -> datetime:
        return self.t

    def at(self, local: datetime) -> None:
        self.t = local.replace(tzinfo=LA).astimezone(UTC)


@pytest.fixture
def start(make_site: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """start(days, first, url, **env) -> (site, clock): a site holding `days` (captures made
    for all of them; the moving clock decides what is published), both clocks at `first`
    (local time), in_gate only."""

    def factory(days: list[date], first: datetime, url: str | None, **env: str) -> Any:
        site = make_site(
            days=days,
            now=datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), LA),
            database_url=url,
            seed=23,
            dataset_kwargs={"outage_rate": 0.0, "thumb_only_rate": 0.0},
        )
        moving = Clock(first.replace(tzinfo=LA).astimezone(UTC))
        site.replica.now = moving
        clock.set_source(moving)  # make_site puts the real clock back afterwards
        for key, value in {"DOGCLI_STREAMS": "in_gate", "DOGCLI_MAX_RETRIES": "1",
                           **env}.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        return site, moving

    return factory


def catalog_url(site: Any) -> str:
    return site.env.get("DOGCLI_DATABASE_URL") or f"sqlite:///{site.data_dir / 'dogcli.db'}"


def stored(site: Any) -> dict[str, tuple[str, str]]:
    """url_ts -> (variant, path) of every in_gate row."""
    with Catalog(catalog_url(site)) as cat, cat.engine.connect() as conn:
        rows = conn.execute(
            select(CaptureRow.url_ts, CaptureRow.variant, CaptureRow.path).where(
                CaptureRow.stream == "in_gate"
            )
        ).all()
    return {ts: (variant, path) for ts, variant, path in rows}


def assert_archived(site: Any, days: list[date]) -> int:
    """Every capture the site publishes now for `days`, stored byte for byte in the variant a
    perfect client keeps (full size wherever the CDN serves it)."""
    rows = stored(site)
    count = 0
    for day in days:
        for stamp, variant, body in site.replica.expected("in_gate", day):
            assert stamp in rows, f"{day} {stamp} not archived"
            assert rows[stamp][0] == variant, f"{stamp}: kept {rows[stamp][0]}, wanted {variant}"
            assert (site.data_dir / rows[stamp][1]).read_bytes() == body, stamp
            count += 1
    return count


def local_hm(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(LA)
    return local.hour, local.minute


def gaps(cli: Any) -> dict[str, Any]:
    ran = cli("gaps", "--json")
    assert ran.code in (0, 1), ran.err
    return {d["day"]: d for d in json.loads(ran.out)["days"] if d["stream"] == "in_gate"}


def reshape(site: Any, day: date, lo: tuple[int, int], hi: tuple[int, int], **change: Any) -> list:
    """Give the in_gate captures of local `day` between lo and hi (HH, MM, local) a change
    (publish_delay, full_delay); returns them."""
    ds = site.dataset
    low = datetime.combine(day, datetime.min.time(), LA).replace(hour=lo[0], minute=lo[1])
    high = datetime.combine(day, datetime.min.time(), LA).replace(hour=hi[0], minute=hi[1])
    chosen = [s for s in ds.captures("in_gate", day) if low <= s.utc.astimezone(LA) < high]
    for spec in chosen:
        ds.put("in_gate", dataclasses.replace(spec, **change))
    return chosen


def test_fetch_every_ten_minutes_across_midnight_misses_nothing(start: Any, cli: Any) -> None:
    """Captures that fail before midnight, captures published 25 minutes late, full sizes that
    appear 15 minutes after their thumbnail: the timer's fetches alone archive every one."""
    day1, day2 = date(2025, 9, 5), date(2025, 9, 6)
    site, moving = start([day1, day2], datetime(2025, 9, 5, 23, 0), None)
    late = reshape(site, day1, (23, 35), (23, 59), publish_delay=25 * 60)
    slow_full = reshape(site, day1, (23, 10), (23, 35), full_delay=15 * 60)
    failing = [
        s for s in site.dataset.captures("in_gate", day1) if (22, 20) <= local_hm(s.utc) < (23, 0)
    ]
    assert late and slow_full and len(failing) >= 3
    for spec in failing:  # the CDN fails them until 00:30
        site.replica.faults.cdn(spec.utc, ["always:503"], stream="in_gate")

    thumbnails_seen = 0
    missing_after_midnight = None
    # Every 10 minutes across midnight, then the first run after day 1 has settled (03:00).
    moments = [datetime(2025, 9, 5, 23, 0) + timedelta(minutes=10 * i) for i in range(13)]
    for t in [*moments, datetime(2025, 9, 6, 3, 10)]:
        moving.at(t)
        if t == datetime(2025, 9, 6, 0, 30):
            site.replica.faults.clear()
        ran = cli("-q", "fetch")
        assert ran.code in (0, 1), ran.err
        rows = stored(site)
        thumbnails_seen = max(thumbnails_seen, sum(1 for v, _p in rows.values() if v != "full"))
        if t == datetime(2025, 9, 6, 0, 10):
            missing_after_midnight = gaps(cli)[str(day1)]["missing"]

    # Before midnight the failures were remembered; after 00:30 they were fetched.
    assert missing_after_midnight == len(failing)
    assert thumbnails_seen >= 1  # a full size that came late was first kept as a thumbnail
    n = assert_archived(site, [day1, day2])
    assert n > 140
    late_stamps = {site.replica.stamp(s.utc) for s in late}
    assert late_stamps <= set(stored(site))
    report = gaps(cli)
    assert report[str(day1)]["settled"] is True and report[str(day1)]["missing"] == 0
    assert report[str(day1)]["thumbnail_only"] == 0
    with Catalog(catalog_url(site)) as cat, cat.engine.connect() as conn:
        assert conn.execute(select(WantedRow.url_ts)).all() == []
    health = cli("health", "--json")
    check = {c["name"]: c for c in json.loads(health.out)["checks"]}["completeness"]
    assert check["status"] == "ok", check


def test_a_machine_off_for_three_days_catches_up_with_one_fetch(
    start: Any, cli: Any, db_url: str
) -> None:
    days = [date(2025, 9, 1) + timedelta(days=i) for i in range(4)]
    url = None if db_url.startswith("sqlite") else db_url
    site, moving = start(days, datetime(2025, 9, 1, 12, 0), url)
    assert cli("-q", "fetch").code == 0
    moving.at(datetime(2025, 9, 4, 12, 0))  # three days off
    ran = cli("fetch")
    assert ran.code == 0, ran.err
    assert assert_archived(site, days) > 3 * 140
    report = gaps(cli)
    for day in days[:3]:
        assert report[str(day)]["settled"] and report[str(day)]["missing"] == 0, report[str(day)]
    assert report[str(days[3])]["settled"] is False  # today
    # A settled day is not read again.
    before = len(site.replica.api_requests())
    moving.at(datetime(2025, 9, 4, 12, 10))
    assert cli("-q", "fetch").code == 0
    asked = {r.path for r in site.replica.api_requests()[before:]}
    assert asked and all(str(days[3]) in p or "start=" in p for p in asked), asked


def test_days_past_the_window_are_reported_until_backfill_gaps_fills_them(
    start: Any, cli: Any, db_url: str
) -> None:
    days = [date(2025, 9, 1) + timedelta(days=i) for i in range(5)]
    url = None if db_url.startswith("sqlite") else db_url
    site, moving = start(days, datetime(2025, 9, 1, 12, 0), url,
                         DOGCLI_CATCHUP_DAYS="2")  # fmt: skip
    assert cli("-q", "fetch").code == 0
    moving.at(datetime(2025, 9, 5, 12, 0))
    ran = cli("fetch")
    assert ran.code == 0, ran.err
    assert "backfill --gaps" in ran.err  # the older days are named
    report = gaps(cli)
    incomplete = sorted(d for d, row in report.items() if row["incomplete"])
    assert incomplete == [str(days[0]), str(days[1])]
    assert report[str(days[1])]["last_read"] is None  # never read
    health = cli("health")
    assert health.code == 2, health.out  # more than a day late: CRITICAL
    first = health.out.splitlines()[0]
    assert first.startswith("DOGCLI CRITICAL") and "backfill --gaps" in first, first
    assert str(days[0]) in first or str(days[1]) in first

    ran = cli("backfill", "--gaps")
    assert ran.code == 0, ran.err
    assert assert_archived(site, days) > 4 * 140
    assert not [d for d, row in gaps(cli).items() if row["incomplete"]]
    assert cli("gaps").code == 0
    health = cli("health", "--json")
    check = {c["name"]: c for c in json.loads(health.out)["checks"]}["completeness"]
    assert check["status"] == "ok", check


def test_gaps_draws_outages_apart_from_archive_gaps(start: Any, cli: Any) -> None:
    day = date(2025, 9, 5)
    site, _clock = start([day], datetime(2025, 9, 5, 20, 0), None)
    specs = site.dataset.captures("in_gate", day)
    for spec in specs:  # a camera outage from 08:00 to 10:00
        if 8 <= spec.utc.astimezone(LA).hour < 10:
            site.dataset.remove("in_gate", spec.utc)
    broken = [s for s in specs if s.utc.astimezone(LA).hour == 14]
    for spec in broken:
        site.replica.faults.cdn(spec.utc, ["always:503"], stream="in_gate")
    assert cli("-q", "fetch").code == 1  # some failed
    ran = cli("gaps", "--since", str(day))
    lines = ran.out.splitlines()
    row = next(line for line in lines if line.startswith("in_gate") and str(day) in line
               and " h from " in line)  # fmt: skip
    cells = row.split(f"{day} ", 1)[1].split("  ")[0]
    assert len(cells) == 24
    assert cells[8] == cells[9] == "·"  # outage: nothing listed
    assert cells[14] == "█" and cells[13] == "█"  # both drawn, told apart by colour (JSON)
    report = gaps(cli)
    assert report[str(day)]["missing"] == len(broken)
    with Catalog(catalog_url(site)) as cat, cat.engine.connect() as conn:
        row_day = conn.execute(select(DayRow.missing, DayRow.listed)).one()
    assert row_day.missing == len(broken)
    assert row_day.listed == len(site.replica.expected("in_gate", day))  # published by 20:00


def test_a_replaced_thumbnail_whose_row_was_not_updated_is_mended_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash between renaming the full size over the thumbnail and updating its row: the
    pending journal's record brings the row to the file."""
    from dogcli.archive.session import Archive
    from dogcli.config import load_settings
    from dogcli.storage.local import LocalStorage

    data = tmp_path / "data"
    settings = load_settings({"data_dir": str(data)}, env={})
    capture = settings.zones.capture("apm", "in_gate", "2025-09-06T00:20:27")
    storage = LocalStorage(data)
    storage.ensure_writable()
    thumb = storage.place(capture, "thumbnail", "u-thumb", b"\xff\xd8\xffthumb\xff\xd9", "a" * 64)
    with Catalog(settings.effective_database_url) as cat:
        cat.upgrade()
        cat.insert([thumb], settings.zones.url)
    storage.clear_pending()
    # The upgrade: journaled, renamed into place... and killed before the catalog heard.
    full = storage.place(capture, "full", "u-full", b"\xff\xd8\xff" + b"f" * 50 + b"\xff\xd9",
                         "b" * 64)  # fmt: skip
    with Archive.open(settings) as session:
        session.ingest(lambda _note: None).replay_pending()
    with Catalog(settings.effective_database_url) as cat, cat.engine.connect() as conn:
        row = conn.execute(select(CaptureRow.variant, CaptureRow.bytes, CaptureRow.sha256)).one()
    assert tuple(row) == ("full", full.bytes, "b" * 64)
    assert (data / capture.rel_path).stat().st_size == full.bytes

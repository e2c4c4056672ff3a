from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text

from dogcli.catalog import db
from dogcli.catalog.captures import Catalog, catalog_for, open_catalog
from dogcli.catalog.ledger import Ledger
from dogcli.catalog.revisions import scripted_head
from dogcli.config import load_settings
from dogcli.model.captures import Zones
from dogcli.model.errors import CatalogUnavailable, SettingsError
from dogcli.storage.base import StoredFile

SITE = ZoneInfo("America/Los_Angeles")
UTC_ZONE = ZoneInfo("UTC")  # the zone of the URL stamps
ZONES = Zones(SITE, UTC_ZONE)


def rec(ts: str, stream: str = "in_gate", size: int = 100, variant: str = "full") -> StoredFile:
    day = ts[:10]
    capture = ZONES.capture("apm", stream, ts)
    return StoredFile(
        terminal="apm", stream=stream, url_ts=ts, variant=variant, path=capture.rel_path,
        bytes=size, sha256=hashlib.sha256(ts.encode()).hexdigest(),
        source_url=f"http://cdn/apm/{day}/x/{ts}-{stream}.jpeg",
        downloaded_at="2025-09-07T00:00:00+00:00",
    )  # fmt: skip


def test_upgrade_creates_schema_and_is_idempotent(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        assert catalog.upgrade() is True
        assert catalog.upgrade() is False
        current, head = catalog.schema_status()
        assert current == head == scripted_head()
        inspector = inspect(catalog.engine)
        assert {"captures", "runs"} <= set(inspector.get_table_names())
        indexes = {i["name"] for i in inspector.get_indexes("captures")}
        assert {"ix_captures_stream_time", "ix_captures_captured_at"} <= indexes
        columns = {c["name"] for c in inspector.get_columns("captures")}
        assert "url_ts" in columns and "site_ts" not in columns


def test_insert_or_ignore_and_queries(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        rows = [
            rec("2025-09-06T07:03:17"),  # 00:03 on 2025-09-06 in Los Angeles
            rec("2025-09-06T06:59:59"),  # 23:59 on 2025-09-05
            rec("2025-09-07T00:01:02"),  # 17:01 on 2025-09-06: a UTC date later
            rec("2025-09-07T07:00:00"),  # 00:00 on 2025-09-07
            rec("2025-09-06T07:03:17", stream="out_gate"),
        ]
        assert catalog.insert(rows, UTC_ZONE, batch_size=2) == 5
        catalog.insert(rows[:2], UTC_ZONE)  # duplicates are ignored
        with catalog.engine.connect() as conn:
            assert conn.execute(text("select count(*) from captures")).scalar() == 5
        have = catalog.have_day("apm", "in_gate", *ZONES.day_bounds(date(2025, 9, 6)))
        assert sorted(have) == ["2025-09-06T07:03:17", "2025-09-07T00:01:02"]
        assert have["2025-09-06T07:03:17"].bytes == 100
        assert have["2025-09-07T00:01:02"].path == (
            "images/apm/in_gate/2025-09-06/in_gate_20250907T000102Z.jpg"
        )
        before = catalog.have_day("apm", "in_gate", *ZONES.day_bounds(date(2025, 9, 5)))
        assert sorted(before) == ["2025-09-06T06:59:59"]
        assert catalog.newest_capture_time("apm", "in_gate") == datetime(
            2025, 9, 7, 7, 0, tzinfo=UTC
        )
        assert catalog.newest_capture_time("apm", "nothing") is None
        keys = [
            ("apm", "in_gate", "2025-09-06T07:03:17"),
            ("apm", "in_gate", "2030-01-01T00:00:00"),
        ]
        assert catalog.known(keys) == {keys[0]}


def test_replace_updates_the_row_of_a_redownload(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert([rec("2025-09-06T07:03:17", size=100)], UTC_ZONE)
        catalog.insert(
            [rec("2025-09-06T07:03:17", size=55, variant="thumbnail")], UTC_ZONE, replace=True
        )
        have = catalog.have_day("apm", "in_gate", *ZONES.day_bounds(date(2025, 9, 6)))
        assert have["2025-09-06T07:03:17"].bytes == 55


def test_stream_stats(db_url: str) -> None:
    now = datetime(2025, 9, 7, 19, 0, tzinfo=UTC)  # 12:00 in Los Angeles
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert([
            rec("2025-09-07T18:30:00", size=10),  # 11:30 in Los Angeles: last hour
            rec("2025-09-07T08:00:00", size=20),  # today (site), not last hour
            rec("2025-09-06T20:00:00", size=30),  # yesterday, within 24 h
            rec("2025-09-01T20:00:00", size=40),  # old
            rec("2025-09-07T18:00:00", stream="out_gate", size=5),
        ], UTC_ZONE)  # fmt: skip
        Ledger(catalog, "apm", ZONES).rebuild()  # the totals are the ledger's
        midnight = datetime(2025, 9, 7, tzinfo=SITE)
        stats = catalog.stream_stats("apm", ["in_gate"], now, midnight)
        assert list(stats) == ["in_gate"]
        s = stats["in_gate"]
        assert (s["count"], s["bytes"], s["last_hour"], s["last_24h"], s["today"]) == (
            4,
            100,
            1,
            3,
            2,
        )
        assert s["first"] == datetime(2025, 9, 1, 20, 0, tzinfo=UTC)
        assert s["last"] == datetime(2025, 9, 7, 18, 30, tzinfo=UTC)
        both = catalog.stream_stats("apm", None, now, midnight)
        assert both["out_gate"]["count"] == 1


def test_unreachable_database_is_a_one_line_error_without_password() -> None:
    catalog = Catalog(
        "postgresql+psycopg://dog:hunter2@127.0.0.1:1/x", max_retries=1, retry_base=0.01
    )
    with pytest.raises(CatalogUnavailable) as info:
        catalog.upgrade()
    message = str(info.value)
    assert "hunter2" not in message and "\n" not in message
    assert "127.0.0.1" in message


def test_unparsable_url() -> None:
    with pytest.raises(SettingsError, match="cannot parse database URL"):
        db.make_engine("postgresql://dog:hunter2@host:notaport/x")


def test_sqlite_is_in_wal_mode(tmp_path: object) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path}/c.db")
    with catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    catalog.close()


def test_stats_are_utc_aware_on_both(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert([rec("2025-09-07T18:30:00")], UTC_ZONE)
        Ledger(catalog, "apm", ZONES).rebuild()
        now = datetime(2025, 9, 7, 19, 0, tzinfo=UTC)
        s = catalog.stream_stats("apm", None, now, now - timedelta(hours=5))["in_gate"]
        assert s["last"].tzinfo is not None


def test_set_paths_points_rows_at_their_files(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert([rec("2025-09-06T00:20:27"), rec("2025-09-06T00:20:27", "out_gate")],
                       UTC_ZONE)  # fmt: skip
        new = "images/apm/in_gate/2025-09-05/in_gate_20250906T002027Z.jpg"
        catalog.set_paths("apm", [("in_gate", "2025-09-06T00:20:27", new)])
        catalog.set_paths("other", [("out_gate", "2025-09-06T00:20:27", "elsewhere")])
        with catalog.engine.connect() as conn:
            paths = dict(conn.execute(text("select stream, path from captures")).all())
        assert paths["in_gate"] == new
        assert paths["out_gate"] == rec("2025-09-06T00:20:27", "out_gate").path  # untouched


def test_captured_at_is_the_stamp_read_in_the_url_zone(db_url: str) -> None:
    """The same stamp inserted as UTC and as Los Angeles time: 7 hours apart in September."""
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert([rec("2025-09-06T00:20:27")], UTC_ZONE)
        catalog.insert([rec("2025-09-06T00:20:27", "out_gate")], SITE)
        assert catalog.newest_capture_time("apm", "in_gate") == datetime(
            2025, 9, 6, 0, 20, 27, tzinfo=UTC
        )
        assert catalog.newest_capture_time("apm", "out_gate") == datetime(
            2025, 9, 6, 7, 20, 27, tzinfo=UTC
        )


def test_catalog_for_and_open_catalog_follow_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        env={"DOGCLI_DATA_DIR": str(tmp_path), "DOGCLI_URL_TIMEZONE": "America/Los_Angeles"}
    )
    with catalog_for(settings) as catalog:
        assert catalog.url_timezone == "America/Los_Angeles"
        assert catalog.url == f"sqlite:///{tmp_path.resolve() / 'dogcli.db'}"
    opened, why = open_catalog(settings)
    assert opened is not None and why == ""
    try:
        assert opened.schema_status() == (scripted_head(), scripted_head())
    finally:
        opened.close()
    broken = load_settings(
        env={
            "DOGCLI_DATA_DIR": str(tmp_path),
            "DOGCLI_DATABASE_URL": "postgresql://dog:hunter2@127.0.0.1:1/x",
            "DOGCLI_MAX_RETRIES": "0",
        }
    )
    none, why = open_catalog(broken)
    assert none is None
    assert "127.0.0.1" in why and "hunter2" not in why

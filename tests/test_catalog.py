from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text

from dogcli.catalog import db
from dogcli.catalog.store import Catalog
from dogcli.errors import CatalogUnavailable, SettingsError
from dogcli.storage import StoredFile

TZ = ZoneInfo("America/Los_Angeles")


def rec(ts: str, stream: str = "in_gate", size: int = 100, variant: str = "full") -> StoredFile:
    day = ts[:10]
    return StoredFile(
        terminal="apm", stream=stream, site_ts=ts, variant=variant,
        path=f"images/apm/{stream}/{day}/{stream}_{ts.replace('-', '').replace(':', '')}.jpg",
        bytes=size, sha256=hashlib.sha256(ts.encode()).hexdigest(),
        source_url=f"http://cdn/apm/{day}/x/{ts}-{stream}.jpeg",
        downloaded_at="2025-09-07T00:00:00+00:00",
    )  # fmt: skip


def test_upgrade_creates_schema_and_is_idempotent(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        assert catalog.upgrade() is True
        assert catalog.upgrade() is False
        current, head = catalog.schema_status()
        assert current == head == "0002"
        inspector = inspect(catalog.engine)
        assert {"captures", "runs"} <= set(inspector.get_table_names())
        indexes = {i["name"] for i in inspector.get_indexes("captures")}
        assert {"ix_captures_stream_time", "ix_captures_captured_at"} <= indexes


def test_insert_or_ignore_and_queries(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        rows = [
            rec("2025-09-06T07:03:17"),
            rec("2025-09-06T07:13:40"),
            rec("2025-09-07T00:01:02"),
            rec("2025-09-06T07:03:17", stream="out_gate"),
        ]
        assert catalog.insert(rows, TZ, batch_size=2) == 4
        catalog.insert(rows[:2], TZ)  # duplicates are ignored
        with catalog.engine.connect() as conn:
            assert conn.execute(text("select count(*) from captures")).scalar() == 4
        have = catalog.have_day("apm", "in_gate", datetime(2025, 9, 6).date())
        assert sorted(have) == ["2025-09-06T07:03:17", "2025-09-06T07:13:40"]
        assert have["2025-09-06T07:03:17"].bytes == 100
        assert catalog.newest_site_ts("apm", "in_gate") == "2025-09-07T00:01:02"
        assert catalog.newest_site_ts("apm", "nothing") is None
        keys = [
            ("apm", "in_gate", "2025-09-06T07:03:17"),
            ("apm", "in_gate", "2030-01-01T00:00:00"),
        ]
        assert catalog.known(keys) == {keys[0]}


def test_replace_updates_the_row_of_a_redownload(db_url: str) -> None:
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert([rec("2025-09-06T07:03:17", size=100)], TZ)
        catalog.insert([rec("2025-09-06T07:03:17", size=55, variant="thumbnail")], TZ, replace=True)
        have = catalog.have_day("apm", "in_gate", datetime(2025, 9, 6).date())
        assert have["2025-09-06T07:03:17"].bytes == 55


def test_stream_stats(db_url: str) -> None:
    now = datetime(2025, 9, 7, 19, 0, tzinfo=UTC)  # 12:00 in Los Angeles
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert([
            rec("2025-09-07T11:30:00", size=10),  # 18:30 UTC: last hour
            rec("2025-09-07T01:00:00", size=20),  # today (site), not last hour
            rec("2025-09-06T13:00:00", size=30),  # yesterday, within 24 h
            rec("2025-09-01T13:00:00", size=40),  # old
            rec("2025-09-07T11:00:00", stream="out_gate", size=5),
        ], TZ)  # fmt: skip
        midnight = datetime(2025, 9, 7, tzinfo=TZ)
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
        catalog.insert([rec("2025-09-07T11:30:00")], TZ)
        now = datetime(2025, 9, 7, 19, 0, tzinfo=UTC)
        s = catalog.stream_stats("apm", None, now, now - timedelta(hours=5))["in_gate"]
        assert s["last"].tzinfo is not None

"""The catalog goes away during a fetch: a SQLite file locked by another writer past the busy
timeout, a PostgreSQL server stopped. Images still land on disk, the run says so and exits 1,
the next run catalogs them without downloading anything again. A catalog that is back within
the retry budget costs nothing at all: exit 0, no message, every row in place.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import pgserver
from tests.conftest import Site
from tests.e2e.test_e2e import summary_numbers
from tests.faultkit import archive_state, assert_complete, assert_sound, expected_bytes, record
from tests.reliability.test_faults import trim

pytestmark = pytest.mark.browser


def _small_site(
    make_site: Any, database_url: str | None = None, cdn_latency: float = 0.05
) -> tuple[Site, Any, dict]:
    site = make_site(days=2, database_url=database_url, api_delay=0.0, cdn_latency=cdn_latency)
    day = site.day(-1)
    trim(site, "in_gate", day, 16)
    return site, day, expected_bytes(site.replica, ("in_gate",), [day])


def _when_files_land(
    site: Site, action: Callable[[], None], timeout: float = 60
) -> threading.Thread:
    """Run action in a thread as soon as the run has placed its first image file."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        images = site.data_dir / "images"
        while time.monotonic() < deadline:
            if images.is_dir() and next(images.rglob("*.jpg"), None) is not None:
                action()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _dogcli_cdn_requests(site: Site) -> int:
    return sum(1 for r in site.replica.cdn_requests() if r.agent.startswith("dogcli/"))


# -- SQLite: another writer holds the database -----------------------------------------------


def _exclusive(db: Path) -> sqlite3.Connection:
    """Another process's writer: an exclusive transaction on the catalog file."""
    conn = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_sqlite_locked_past_the_busy_timeout(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, day, expected = _small_site(make_site)
    assert cli("db", "upgrade").code == 0
    db = site.data_dir / "dogcli.db"
    # A 1 s busy timeout instead of 5 s (the lock is real; only the wait is shorter).
    monkeypatch.setattr("dogcli.catalog.db.make_engine.__defaults__", (1000,))
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "1")
    holder = _exclusive(db)
    try:
        ran = cli("backfill", str(day), "-s", "in_gate")
    finally:
        holder.rollback()
        holder.close()
    assert ran.code == 1, ran.err
    assert "database is locked" in ran.err and "next run catalogs them" in ran.err
    assert "Traceback" not in ran.err
    state = archive_state(site.data_dir)
    assert sorted(state.files) == sorted(expected) and state.rows == {}
    assert_sound(state, expected)

    site.replica.reset_stats()
    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 0, ran.err
    assert f"cataloged {len(expected)} images left uncataloged" in ran.err
    assert summary_numbers(ran.out)["downloaded"] == 0 and _dogcli_cdn_requests(site) == 0
    assert_complete(archive_state(site.data_dir), expected)
    assert not (site.data_dir / ".pending.jsonl").exists()
    record("catalog_sqlite_locked", images_kept_on_disk=len(expected),
           cataloged_next_run=len(expected), redownloaded=0, lost=0)  # fmt: skip


def test_sqlite_lock_released_within_the_busy_timeout_costs_nothing(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, day, expected = _small_site(make_site, cdn_latency=0.3)  # about 1.2 s of downloads
    assert cli("db", "upgrade").code == 0
    monkeypatch.setenv("DOGCLI_BATCH_SIZE", "3")  # inserts keep coming while the lock is held
    held: list[float] = []
    placed: list[int] = []

    def lock_for_two_seconds() -> None:
        holder = _exclusive(site.data_dir / "dogcli.db")
        began = time.monotonic()
        placed.append(len(archive_state(site.data_dir).files))
        time.sleep(2.0)
        holder.rollback()
        holder.close()
        held.append(time.monotonic() - began)

    watcher = _when_files_land(site, lock_for_two_seconds)
    ran = cli("backfill", str(day), "-s", "in_gate")
    watcher.join(10)
    assert held, "the lock was never taken"
    assert placed[0] < len(expected)  # the run still had downloads and inserts to do
    assert ran.code == 0, ran.err
    assert "locked" not in ran.err and "unavailable" not in ran.err
    assert_complete(archive_state(site.data_dir), expected)
    assert not (site.data_dir / ".pending.jsonl").exists()
    record("catalog_sqlite_locked_briefly", lock_held_s=round(held[0], 2), exit_code=0,
           messages=0, rows=len(expected), files_placed_when_locked=placed[0])  # fmt: skip


# -- PostgreSQL: the server stops during the run ---------------------------------------------


@pytest.mark.postgres
def test_postgresql_stopped_during_the_run(
    make_site: Any, cli: Any, own_pg: pgserver.PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = own_pg.create_database("outage")
    site, day, expected = _small_site(make_site, url)
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "1")
    monkeypatch.setenv("DOGCLI_BATCH_SIZE", "3")
    watcher = _when_files_land(site, own_pg.stop)
    ran = cli("backfill", str(day), "-s", "in_gate")
    watcher.join(30)
    assert ran.code == 1, ran.err
    assert "unavailable" in ran.err and "next run catalogs them" in ran.err
    assert "Traceback" not in ran.err
    own_pg.restart()
    state = archive_state(site.data_dir, url)
    assert sorted(state.files) == sorted(expected)  # every image landed
    assert_sound(state, expected)  # and every row that made it has its file
    before = len(state.rows)

    site.replica.reset_stats()
    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 0, ran.err
    assert "left uncataloged" in ran.err
    assert summary_numbers(ran.out)["downloaded"] == 0 and _dogcli_cdn_requests(site) == 0
    assert_complete(archive_state(site.data_dir, url), expected)
    record("catalog_postgresql_stopped", images=len(expected), rows_before_stop=before,
           cataloged_next_run=len(expected) - before, redownloaded=0, lost=0)  # fmt: skip


@pytest.mark.postgres
def test_postgresql_back_within_the_retry_budget_costs_nothing(
    make_site: Any, cli: Any, own_pg: pgserver.PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = own_pg.create_database("blip")
    site, day, expected = _small_site(make_site, url, cdn_latency=0.3)
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "4")
    monkeypatch.setenv("DOGCLI_RETRY_BASE", "1")  # budget: at least 0.5 + 1 + 2 + 4 s
    monkeypatch.setenv("DOGCLI_BATCH_SIZE", "3")
    down: list[float] = []
    placed: list[int] = []

    def blip() -> None:
        began = time.monotonic()
        own_pg.stop()
        placed.append(len(archive_state(site.data_dir).files))
        time.sleep(0.5)
        own_pg.restart()
        down.append(time.monotonic() - began)

    watcher = _when_files_land(site, blip)
    ran = cli("backfill", str(day), "-s", "in_gate")
    watcher.join(30)
    assert down, "the server was never stopped"
    assert placed[0] < len(expected)  # the run still had downloads and inserts to do
    assert ran.code == 0, ran.err
    assert "unavailable" not in ran.err and "uncataloged" not in ran.err
    assert_complete(archive_state(site.data_dir, url), expected)
    assert not (site.data_dir / ".pending.jsonl").exists()
    record("catalog_postgresql_restarted", server_down_s=round(down[0], 2), exit_code=0,
           messages=0, rows=len(expected), files_placed_when_stopped=placed[0])  # fmt: skip

"""The PostgreSQL advisory lock is held, or the run stops: a server restart ends the lock's
session and with it the lock, silently. ensure_held() (before each catalog write) takes it
again when it is free, else raises LockLost: one line, exit 75."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dogcli.archive.lock import ADVISORY_KEY, AdvisoryLock, LockBusy, LockLost
from dogcli.model.status import ExitStatus
from tests import pgserver

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from sqlalchemy import create_engine
from dogcli.archive.lock import AdvisoryLock
lock = AdvisoryLock(create_engine(sys.argv[1]), wait=60)
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


HOLDERS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND classid = :hi AND objid = :lo"
)


def holders(url: str) -> int:
    """Sessions holding dogcli's advisory lock, seen from a connection of its own."""
    engine = create_engine(url)
    key = {"hi": ADVISORY_KEY >> 32, "lo": ADVISORY_KEY & 0xFFFFFFFF}
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(HOLDERS), key).scalar() or 0)
    finally:
        engine.dispose()


def restart(server: pgserver.PgServer) -> None:
    server.stop()
    server.restart()


def test_held_lock_costs_one_query(own_pg: pgserver.PgServer) -> None:
    url = own_pg.create_database("held")
    engine = create_engine(url, pool_pre_ping=True)
    lock = AdvisoryLock(engine)
    lock.acquire()
    try:
        began = time.perf_counter()
        for _ in range(100):
            lock.ensure_held()
        per_call = (time.perf_counter() - began) / 100
        assert per_call < 0.05, per_call
        assert holders(url) == 1
    finally:
        lock.release()
    assert holders(url) == 0
    engine.dispose()


def test_after_a_restart_a_free_lock_is_taken_again(own_pg: pgserver.PgServer) -> None:
    url = own_pg.create_database("retake")
    engine = create_engine(url, pool_pre_ping=True)
    lock = AdvisoryLock(engine)
    lock.acquire()
    try:
        restart(own_pg)
        assert holders(url) == 0  # the restart took the lock away
        lock.ensure_held()
        assert holders(url) == 1
        with pytest.raises(LockBusy):  # and it keeps others out again
            AdvisoryLock(create_engine(url)).acquire()
    finally:
        lock.release()
        engine.dispose()


def test_after_a_restart_a_lock_taken_by_another_run_is_lost(own_pg: pgserver.PgServer) -> None:
    url = own_pg.create_database("lost")
    engine = create_engine(url, pool_pre_ping=True)
    lock = AdvisoryLock(engine)
    lock.acquire()
    restart(own_pg)
    other = subprocess.Popen([sys.executable, "-c", HOLDER, url], cwd=ROOT, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with pytest.raises(LockLost) as lost:
            lock.ensure_held()
        assert lost.value.exit_code == ExitStatus.BUSY
        assert "another dogcli run took it" in str(lost.value)
    finally:
        other.kill()
        other.wait(timeout=30)
        lock.release()
        engine.dispose()


def test_while_the_server_is_down_the_check_passes_and_retakes_later(
    own_pg: pgserver.PgServer,
) -> None:
    """Nobody can take the lock from a stopped server: the catalog write decides (it
    retries, or the images stay on disk for the next run), and the next check re-takes."""
    url = own_pg.create_database("down")
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    lock = AdvisoryLock(engine)
    lock.acquire()
    own_pg.stop()
    lock.ensure_held()
    own_pg.restart()
    assert holders(url) == 0
    lock.ensure_held()
    assert holders(url) == 1
    lock.release()
    engine.dispose()


@pytest.mark.browser
@pytest.mark.parametrize("taken", [True, False], ids=["taken", "free"])
def test_a_backfill_after_a_server_restart(
    taken: bool,
    make_site: Any,
    cli: Any,
    own_pg: pgserver.PgServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server restarts once the first image landed; with one download at a time and one
    catalog write at the end, that write comes seconds after the restart. Another run takes
    the lock meanwhile (taken): the backfill stops with 75; nobody does (free): it re-takes
    the lock and finishes."""
    import psycopg

    from tests.catalog.test_catalog_outage import _small_site, _when_files_land

    url = own_pg.create_database("midrun")
    site, day, expected = _small_site(make_site, url, cdn_latency=0.3)
    monkeypatch.setenv("DOGCLI_CONCURRENCY", "1")
    monkeypatch.setenv("DOGCLI_BATCH_SIZE", "1000")
    others: list[Any] = []

    def restart_and_take() -> None:
        restart(own_pg)
        if taken:  # another run's session, the moment the server is back
            conn = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                                   autocommit=True)  # fmt: skip
            conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
            others.append(conn)
        others.append(None)

    watcher = _when_files_land(site, restart_and_take)
    try:
        ran = cli("backfill", str(day), "-s", "in_gate")
        watcher.join(60)
        held_after = holders(url)
    finally:
        for conn in others:
            if conn is not None:
                conn.close()
    assert others, "the server was never restarted"
    assert "Traceback" not in ran.err
    if taken:
        assert ran.code == ExitStatus.BUSY, ran.err
        errors = [line for line in ran.err.splitlines() if line.startswith("dogcli: error:")]
        assert errors == ["dogcli: error: lost the catalog's advisory lock and another dogcli "
                          "run took it; stopped"], ran.err  # fmt: skip
        assert held_after == 1  # the other run's, untouched
    else:
        assert ran.code == ExitStatus.OK, ran.err
        assert "advisory lock was lost (server restart?); took it again" in ran.err
        assert held_after == 0  # released at the end
        engine = create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM captures")).scalar()
        engine.dispose()
        assert rows == len(expected)

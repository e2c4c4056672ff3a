"""`dogcli stats` reads through the database's own driver when it can (catalog/quick.py):
both ways must give the same report, on a real SQLite file and a real PostgreSQL server, and
the quick way must step aside whenever it cannot be sure."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dogcli.catalog.captures import Catalog
from dogcli.catalog.ledger import Ledger
from dogcli.catalog.quick import read_stats
from dogcli.catalog.runs import Run, RunJournal
from dogcli.cli.render import stats_json
from dogcli.config import load_settings
from dogcli.model import clock
from dogcli.reports.stats import StatsReport, collect_stats, stats_report
from dogcli.storage.base import StoredFile

NOW = datetime(2025, 9, 7, 19, 0, tzinfo=UTC)  # noon in Los Angeles


def record(stamp: str, stream: str = "in_gate", size: int = 100) -> StoredFile:
    return StoredFile("apm", stream, stamp, "full", f"images/apm/{stream}/x/{stamp}.jpg", size,
                      "0" * 64, "http://cdn/x", "2025-09-07T19:00:00+00:00")  # fmt: skip


@pytest.fixture
def archive(db_url: str, tmp_path: Path) -> Any:
    settings = load_settings({"data_dir": str(tmp_path / "data"), "database_url": db_url}, env={})
    clock.set_source(lambda: NOW)
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        stamps = [NOW - timedelta(minutes=10 * i) for i in range(400)]
        catalog.insert(
            [record(f"{t:%Y-%m-%dT%H:%M:%S}", s, 100 + i) for i, t in enumerate(stamps)
             for s in ("in_gate", "out_gate")],
            settings.zones.url,
        )  # fmt: skip
        Ledger(catalog, "apm", settings.zones).rebuild()
        journal = RunJournal(catalog)
        for outcome in ("ok", "partial"):
            run = Run("fetch", ["in_gate", "out_gate"], started_at=NOW - timedelta(minutes=5))
            journal.start(run)
            run.outcome, run.found, run.finished_at = outcome, 7, NOW
            journal.finish(run)
    yield settings
    clock.set_source(None)


def test_both_ways_give_the_same_report(archive: Any) -> None:
    settings = archive
    (quick,) = stats_report(settings).terminals
    with Catalog(settings.effective_database_url) as catalog:
        slow = collect_stats(settings, catalog, settings.streams, NOW)
    assert quick == slow
    assert stats_json(StatsReport([quick])) == stats_json(StatsReport([slow]))
    assert quick.streams["in_gate"].count == 400
    assert quick.streams["in_gate"].last_hour == 7  # 0, 10, ..., 60 minutes ago
    assert quick.last_runs["fetch"].outcome == "partial"
    today = settings.zones.day_of(NOW)
    start = settings.zones.day_bounds(today)[0]
    assert read_stats(settings, ["in_gate"], NOW, start, today, ["fetch"]) is not None


def test_the_quick_way_steps_aside_for_an_old_schema(archive: Any) -> None:
    settings = archive
    with Catalog(settings.effective_database_url) as catalog, catalog.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    today = settings.zones.day_of(NOW)
    start = settings.zones.day_bounds(today)[0]
    assert read_stats(settings, settings.streams, NOW, start, today, ["fetch"]) is None


def test_stats_does_not_load_sqlalchemy(archive: Any, tmp_path: Path) -> None:
    """What makes it fast: the command's process never imports SQLAlchemy (or Alembic)."""
    settings = archive
    code = (
        "import sys\nfrom dogcli.cli.app import main\n"
        "try:\n    main(['stats', '--json'])\nexcept SystemExit as e:\n    code = e.code\n"
        "print('LOADED', sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules),"
        " code, file=sys.stderr)\n"
    )
    env = {"DOGCLI_DATA_DIR": str(settings.data_dir),
           "DOGCLI_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}  # fmt: skip
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert "LOADED [] 0" in ran.stderr, ran.stderr

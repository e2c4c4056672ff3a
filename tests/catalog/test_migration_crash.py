"""A process killed while it creates or migrates the catalog leaves no half-made schema: the
next run migrates from where the last complete step left off, on SQLite as on PostgreSQL.

The kill comes from inside a real migration on a real database: the test process runs
dogcli's own upgrade with one Alembic operation replaced by an immediate exit (no hook in
dogcli): create_index, right after CREATE TABLE captures and before the version row; or, in
0003, the UPDATE that recomputes captured_at, right after the column was renamed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text

from dogcli.catalog.captures import Catalog, as_utc
from dogcli.catalog.models import CaptureRow
from dogcli.catalog.revisions import scripted_head
from tests.faultkit import ROOT, record
from tests.unit.test_time_model import STAMPS, build_0002_catalog

HEAD = scripted_head()

CRASH = """
import os, sys
from alembic.operations import Operations
Operations.create_index = lambda self, *args, **kwargs: os._exit(9)
from dogcli.catalog import db
db.upgrade(db.make_engine(sys.argv[1]))
"""


def test_killed_during_schema_creation(
    db_url: str, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    crashed = subprocess.run([sys.executable, "-c", CRASH, db_url], env=env, cwd=ROOT,
                             capture_output=True, timeout=60)  # fmt: skip
    assert crashed.returncode == 9, crashed.stderr.decode()
    engine = create_engine(db_url)
    left = set(inspect(engine).get_table_names())
    engine.dispose()

    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "0")
    ran = cli("db", "upgrade")
    assert ran.code == 0, ran.err
    assert cli("stats", "--json").code == 0
    engine = create_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    indexes = {i["name"] for i in inspect(engine).get_indexes("captures")}
    engine.dispose()
    assert {"captures", "runs", "alembic_version"} <= tables
    assert {"ix_captures_stream_time", "ix_captures_captured_at"} <= indexes
    assert _version(db_url) == HEAD
    backend = db_url.split(":")[0].split("+")[0]
    partial = sorted(left - {"alembic_version"})
    record(f"migration_crash_{backend}", tables_left_by_the_crash=partial, next_run_ok=True)


CRASH_IN_0003 = """
import os, sys
from alembic.operations import Operations
execute = Operations.execute
def crash(self, sql, *args, **kwargs):
    if "UPDATE captures" in str(sql):
        os._exit(9)
    return execute(self, sql, *args, **kwargs)
Operations.execute = crash
from dogcli.catalog import db
db.upgrade(db.make_engine(sys.argv[1]))
"""


def _version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def test_killed_between_the_rename_and_the_new_capture_times(
    db_url: str, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0003 renames site_ts, then recomputes captured_at: killed in between, nothing of it
    stays; the next run does both, once (captured_at is not shifted twice)."""
    build_0002_catalog(db_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    crashed = subprocess.run([sys.executable, "-c", CRASH_IN_0003, db_url], env=env, cwd=ROOT,
                             capture_output=True, timeout=60)  # fmt: skip
    assert crashed.returncode == 9, crashed.stderr.decode()
    engine = create_engine(db_url)
    columns = {c["name"] for c in inspect(engine).get_columns("captures")}
    engine.dispose()
    assert "site_ts" in columns and "url_ts" not in columns  # the rename was rolled back
    assert _version(db_url) == "0002"

    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "0")
    ran = cli("db", "upgrade")
    assert ran.code == 0, ran.err
    assert _version(db_url) == HEAD
    with Catalog(db_url) as catalog, catalog.engine.connect() as conn:
        rows = dict(conn.execute(select(CaptureRow.url_ts, CaptureRow.captured_at)).all())
    assert sorted(rows) == sorted(STAMPS)
    for stamp, at in rows.items():
        assert as_utc(at) == datetime.fromisoformat(stamp).replace(tzinfo=UTC), stamp
    backend = db_url.split(":")[0].split("+")[0]
    record(f"migration_crash_{backend}", killed_in_0003_next_run_ok=True)

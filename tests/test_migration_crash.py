"""A process killed while it creates or migrates the catalog leaves no half-made schema: the
next run migrates from where the last complete step left off, on SQLite as on PostgreSQL.

The kill comes from inside a real migration on a real database: the test process runs
dogcli's own upgrade with Alembic's create_index replaced by an immediate exit, i.e. right
after CREATE TABLE captures and before the version row (no hook in dogcli).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from tests.faultkit import ROOT, record

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
    backend = db_url.split(":")[0].split("+")[0]
    partial = sorted(left - {"alembic_version"})
    record(f"migration_crash_{backend}", tables_left_by_the_crash=partial, next_run_ok=True)

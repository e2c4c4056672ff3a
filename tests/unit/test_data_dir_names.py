"""The SQLite catalog lands in the data dir whatever characters its path holds."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dogcli.catalog.db import display_url
from dogcli.config import load_settings

NAMES = ["pct%41dir", "q?dir=1", "with space", "hash#tag", "ünïcödé", "at@x:y", "semi;colon"]


@pytest.mark.parametrize("name", NAMES)
def test_catalog_file_is_in_the_data_dir(name: str, tmp_path: Path, cli: Any) -> None:
    data_dir = tmp_path / name
    ran = cli("--data-dir", str(data_dir), "db", "upgrade")
    assert ran.code == 0, ran.err
    assert sorted(os.listdir(tmp_path)) == [name]  # no `pctAdir`, no file `q`
    catalog = data_dir / "dogcli.db"
    with sqlite3.connect(catalog) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall()
    settings = load_settings({"data_dir": str(data_dir)})
    assert display_url(settings.effective_database_url) == str(catalog.resolve())

    stats = cli("--data-dir", str(data_dir), "stats", "--json")
    assert stats.code == 0, stats.err
    assert json.loads(stats.out)["streams"]["in_gate"]["count"] == 0
    health = cli("--data-dir", str(data_dir), "health", "--json")
    checks = {c["name"]: c for c in json.loads(health.out)["checks"]}
    assert checks["catalog"]["status"] == "ok", checks
    assert checks["data_dir"]["message"] == f"{data_dir} is writable"
    # The archive lock is a file in the same directory.
    cleanup = cli("--data-dir", str(data_dir), "cleanup")
    assert cleanup.code == 0, cleanup.err
    assert (data_dir / ".lock").is_file()
    assert sorted(os.listdir(tmp_path)) == [name]


def test_an_unopenable_catalog_is_named_by_its_real_path(tmp_path: Path, cli: Any) -> None:
    data_dir = tmp_path / "pct%41 dir#1"
    (data_dir / "dogcli.db").mkdir(parents=True)  # a directory where the file should be
    ran = cli("--data-dir", str(data_dir), "health", "--json")
    assert ran.code == 2, ran.err
    catalog = json.loads(ran.out)["checks"][0]
    assert catalog["status"] == "critical"
    assert f"catalog {data_dir.resolve() / 'dogcli.db'} unavailable" in catalog["message"]


def test_display_url_hides_passwords() -> None:
    url = "postgresql+psycopg://dog:hunter2@db.example:5432/dogcli"
    assert display_url(url) == "postgresql+psycopg://dog:***@db.example:5432/dogcli"

"""gaps, verify and cleanup with several terminals (DOGCLI_CAMERAS) go through every
terminal: a real SQLite catalog and real files of two terminals, the real CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dogcli.catalog.captures import Catalog
from dogcli.catalog.ledger import Ledger
from dogcli.catalog.models import CaptureRow
from dogcli.config import load_settings
from dogcli.model import clock
from dogcli.storage.local import LocalStorage

NOW = datetime(2025, 9, 20, 19, 0, tzinfo=UTC)
CAMERAS = "apm:in_gate,fms:in_gate"


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    data = tmp_path / "data"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data))
    monkeypatch.setenv("DOGCLI_CAMERAS", CAMERAS)
    monkeypatch.setenv("DOGCLI_CDN_URL", "http://127.0.0.1:9/cdn")  # nothing is downloaded
    clock.set_source(lambda: NOW)
    settings = load_settings(env={"DOGCLI_DATA_DIR": str(data)})
    storage = LocalStorage(data)
    storage.ensure_writable()
    with Catalog(settings.effective_database_url) as catalog:
        catalog.upgrade()
        for terminal in ("apm", "fms"):
            records = []
            for days_ago in (10, 1):  # an expired day and a recent one
                for minute in range(0, 60, 10):
                    moment = NOW - timedelta(days=days_ago, minutes=minute)
                    stamp = f"{moment:%Y-%m-%dT%H:%M:%S}"
                    capture = settings.zones.capture(terminal, "in_gate", stamp)
                    body = b"\xff\xd8\xff" + f"{terminal}{stamp}".encode() + b"\xff\xd9"
                    url = capture.url(settings.cdn_url)
                    digest = hashlib.sha256(body).hexdigest()
                    records.append(storage.place(capture, "full", url, body, digest))
            catalog.insert(records, settings.zones.url)
            Ledger(catalog, terminal, settings.zones).rebuild()
    storage.clear_pending()
    yield data, settings
    clock.set_source(None)


def count(settings: Any, terminal: str) -> int:
    with Catalog(settings.effective_database_url) as cat, cat.engine.connect() as conn:
        query = select(func.count()).where(CaptureRow.terminal == terminal)
        return int(conn.execute(query).scalar_one())


def test_gaps_reports_every_terminal(archive: Any, cli: Any) -> None:
    ran = cli("gaps", "--json")
    report = json.loads(ran.out)
    assert set(report["terminals"]) == {"apm", "fms"}
    for terminal in ("apm", "fms"):
        days = report["terminals"][terminal]["days"]
        assert sum(d["stored"] for d in days) == 12
    assert ran.code == 1  # days stored but never read: listed as incomplete


def test_verify_and_cleanup_go_through_every_terminal(archive: Any, cli: Any) -> None:
    data, settings = archive
    ran = cli("verify", "--json")
    report = json.loads(ran.out)
    assert ran.code == 0, report
    assert report["rows"] == report["files"] == 24
    (data / "images" / "fms" / "in_gate" / "stray.txt").write_text("?")
    report = json.loads(cli("verify", "--json").out)
    assert [p["path"] for p in report["problems"]] == ["images/fms/in_gate/stray.txt"]
    (data / "images" / "fms" / "in_gate" / "stray.txt").unlink()

    ran = cli("cleanup", "--retention-days", "5")
    assert ran.code == 0, ran.err
    assert "deleted 12 captures" in ran.out
    assert count(settings, "apm") == count(settings, "fms") == 6
    left = sorted(p.parent.name for p in (data / "images").rglob("*.jpg"))
    assert len(left) == 12 and all(day >= f"{NOW - timedelta(days=5):%Y-%m-%d}" for day in left)

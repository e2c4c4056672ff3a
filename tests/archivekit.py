"""What the tests of operations share: captures made on disk and in the catalog."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from dogcli.catalog.captures import Catalog
from dogcli.catalog.runs import Run, RunJournal
from dogcli.model.captures import Capture, Zones
from dogcli.storage.base import StoredFile
from dogcli.storage.local import LocalStorage

TZ = ZoneInfo("America/Los_Angeles")
ZONES = Zones(TZ, ZoneInfo("UTC"))  # URL stamps in UTC, days local
ROOT = Path(__file__).resolve().parent.parent


def jpeg(seed: str, size: int = 300) -> bytes:
    body = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return b"\xff\xd8\xff\xe0" + body[:size] + b"\xff\xd9"


def capture_at(moment: datetime, stream: str = "in_gate") -> Capture:
    """The capture taken at a site-local wall time (its URL stamp is that instant in UTC)."""
    return ZONES.capture("apm", stream, stamp(moment))


def stamp(moment: datetime) -> str:
    """The URL stamp of a site-local wall time."""
    return ZONES.stamp(moment.replace(tzinfo=TZ))


def populate(data_dir: Path, url: str, moments: list[datetime], stream: str = "in_gate") -> None:
    """Captures at the given site-local moments: real files plus catalog rows."""
    storage = LocalStorage(data_dir)
    records = []
    for moment in moments:
        capture = capture_at(moment, stream)
        ts, rel = capture.url_ts, capture.rel_path
        assert rel.split("/")[3] == f"{moment:%Y-%m-%d}"  # the folder of its local day
        data = jpeg(stream + ts)
        storage.write_atomic(rel, data)
        records.append(StoredFile("apm", stream, ts, "full", rel, len(data),
                                  hashlib.sha256(data).hexdigest(), f"http://cdn/{ts}",
                                  datetime.now(UTC).isoformat()))  # fmt: skip
    with Catalog(url) as catalog:
        catalog.upgrade()
        catalog.insert(records, ZONES.url)


def site_now() -> datetime:
    return datetime.now(TZ).replace(tzinfo=None, microsecond=0)


def rows(url: str, table: str = "captures") -> list[Any]:
    engine = create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(text(f"select * from {table}")).mappings().all()
    engine.dispose()
    return [dict(r) for r in result]


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'dogcli.db'}"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOGCLI_RETRY_BASE", "0.01")
    return {"dir": data_dir, "url": url}


def journal_fetch(url: str, outcome: str, finished_ago: timedelta, streams: list[str]) -> None:
    with Catalog(url) as catalog:
        catalog.upgrade()
        started = datetime.now(UTC) - finished_ago - timedelta(seconds=5)
        RunJournal(catalog).finish(Run(command="fetch", streams=streams, started_at=started,
                                       finished_at=started + timedelta(seconds=5),
                                       outcome=outcome))  # fmt: skip

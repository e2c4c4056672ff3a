"""The collect job without a browser: its discoverer is a Protocol, so a test hands it what
the page would list (taken from the replica's own data) while the downloads, the files, the
catalog and the ledger are the real ones, against the replica's real CDN."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dogcli.archive.lock import LockLost
from dogcli.archive.session import Archive
from dogcli.catalog.captures import Catalog
from dogcli.catalog.ledger import Ledger
from dogcli.catalog.models import CaptureRow
from dogcli.config import Settings, load_settings
from dogcli.jobs.collect import collect
from dogcli.jobs.plan import Plan
from dogcli.sources.base import Found
from tests.replica import Replica, ReplicaConfig, make_dataset

LA = ZoneInfo("America/Los_Angeles")
DAY = date(2025, 9, 5)


class ListedPage:
    """What the History would show: every published capture of the local day (thumbnails)."""

    def __init__(self, replica: Replica, settings: Settings, stop_after: int | None = None):
        self.replica = replica
        self.zones = settings.zones
        self.pages: list[tuple[str, date]] = []
        self.stop_after = stop_after

    def discover(self, stream: str, day: date) -> list[Found]:
        if self.stop_after is not None and len(self.pages) >= self.stop_after:
            raise KeyboardInterrupt  # Ctrl-C while a page is read
        self.pages.append((stream, day))
        return [
            Found(self.zones.capture("apm", stream, stamp), "thumbnail")
            for stamp, _variant, _body in self.replica.expected(stream, day)
        ]


@pytest.fixture
def replica(monkeypatch: pytest.MonkeyPatch) -> Any:
    dataset = make_dataset(days=[DAY, date(2025, 9, 6)], now=datetime(2025, 9, 7, tzinfo=LA),
                           seed=5, outage_rate=0.0)  # fmt: skip
    config = ReplicaConfig(api_delay=0.0, now=datetime(2025, 9, 7, 12, tzinfo=LA))
    with Replica(dataset, config) as rep:
        yield rep


def settings_for(rep: Replica, data: Path, **more: Any) -> Settings:
    values = {"data_dir": str(data), "cdn_url": rep.cdn_url, "retry_base": 0.05, **more}
    return load_settings(values, env={})


def run_pages(settings: Settings, page: ListedPage, pages: list[tuple[str, date]]) -> Any:
    """The collect job on these pages of the one terminal, with the page standing in."""
    with Archive.open(settings) as session:
        return collect(session, settings.scope(), lambda _c, _t, _s: Plan(list(pages)),
                       discoverer=lambda _terminal: page)  # fmt: skip


def catalog_rows(settings: Settings) -> dict[str, str]:
    with Catalog(settings.effective_database_url) as cat, cat.engine.connect() as conn:
        return dict(conn.execute(select(CaptureRow.url_ts, CaptureRow.path)).all())


def test_a_day_is_archived_and_recorded_in_the_ledger_without_a_browser(
    replica: Replica, tmp_path: Path
) -> None:
    settings = settings_for(replica, tmp_path / "data")
    page = ListedPage(replica, settings)
    summary = run_pages(settings, page, [("in_gate", DAY)])
    expected = replica.expected("in_gate", DAY)
    assert summary.ok and summary.new == len(expected) and page.pages == [("in_gate", DAY)]
    rows = catalog_rows(settings)
    for stamp, _variant, body in expected:
        assert (settings.data_dir / rows[stamp]).read_bytes() == body
    with Catalog(settings.effective_database_url) as cat:
        (state,) = Ledger(cat, "apm", settings.zones).days(["in_gate"])
    assert (state.listed, state.stored, state.missing) == (len(expected), len(expected), 0)
    assert state.settled  # read long after the day ended


def test_an_interrupted_run_cancels_its_queue_and_keeps_what_it_stored(
    replica: Replica, tmp_path: Path
) -> None:
    replica.cdn_latency = 0.2  # a long queue: 4 at a time, 0.2 s each
    settings = settings_for(replica, tmp_path / "data", concurrency=4)
    page = ListedPage(replica, settings, stop_after=1)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_pages(settings, page, [("in_gate", DAY), ("in_gate", date(2025, 9, 6))])
    stopped = time.monotonic() - started
    queued = len(replica.expected("in_gate", DAY))
    assert stopped < 3.0 + 2.0, stopped  # the grace time and a little: not the whole queue
    rows = catalog_rows(settings)
    files = {str(p.relative_to(settings.data_dir)) for p in settings.images_dir.rglob("*.jpg")}
    assert 0 < len(rows) < queued  # what finished is cataloged, the rest was cancelled
    assert files == set(rows.values())
    # The next run gets the rest.
    replica.cdn_latency = 0.0
    summary = run_pages(settings, ListedPage(replica, settings), [("in_gate", DAY)])
    assert summary.ok and summary.new == queued - len(rows)
    assert len(catalog_rows(settings)) == queued


def test_a_run_that_lost_its_lock_writes_no_ledger_even_with_nothing_new(
    replica: Replica, tmp_path: Path
) -> None:
    """The lock is checked before the ledger's writes too, not only before rows: a run whose
    lock another run took must not record its reads beside that run's."""
    settings = settings_for(replica, tmp_path / "data")
    assert run_pages(settings, ListedPage(replica, settings), [("in_gate", DAY)]).ok
    with Catalog(settings.effective_database_url) as cat:
        (before,) = Ledger(cat, "apm", settings.zones).days(["in_gate"])
    checks: list[int] = []

    def lost() -> None:
        checks.append(1)
        raise LockLost("another run took the archive lock")

    with Archive.open(settings) as session, pytest.raises(LockLost):
        collect(session, settings.scope(), lambda _c, _t, _s: Plan([("in_gate", DAY)]),
                before_write=lost, discoverer=lambda _t: ListedPage(replica, settings))  # fmt: skip
    assert checks  # nothing new to insert, and the lock was still checked
    with Catalog(settings.effective_database_url) as cat:
        (after,) = Ledger(cat, "apm", settings.zones).days(["in_gate"])
    assert after.last_read == before.last_read  # the second read was not recorded

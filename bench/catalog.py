"""4. The catalog at scale, on SQLite and on PostgreSQL.

An archive of two streams at a 10-minute cadence (1,000,000 captures is about 9.5 years).
The rows go in through dogcli's own Catalog.insert (batches of DOGCLI_BATCH_SIZE's default, as
a fetch inserts them): that is the insert rate. Then `dogcli stats` (the command, start-up
included), the "already have" check a fetch makes for a day (Catalog.have_day, both streams:
288 captures), and `dogcli cleanup` of the oldest captures (their files exist, empty, on disk)
with a retention that expires exactly them. PostgreSQL is a throwaway server from Debian's
binaries with its default durability (fsync on), like SQLite's WAL with synchronous=NORMAL.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import (
    ROOT,
    SITE_TZ,
    STREAMS,
    Config,
    Metric,
    Section,
    dogcli_env,
    fresh_dir,
    has_command,
    log,
    missing,
    site_now,
    timed,
)

TARGET_INSERT_SQLITE = 30.0  # seconds for 1,000,000 rows
TARGET_STATS = 0.3  # the whole `dogcli stats` command, start-up included
TARGET_STATS_QUERY_MS = 20.0  # its queries alone (the ledger's totals, index seeks)
TARGET_CLEANUP = 20.0  # seconds for 100,000 expired captures
PER_DAY = 144  # captures per stream and day at a 10-minute cadence
CHUNK = 20_000  # records handed to Catalog.insert per call


class Timeline:
    """Per stream: `expired` captures before the cleanup cutoff (local days before
    `cutoff_day`), then `fresh` ones from the cutoff day on, every 10 minutes, ending before
    now. Instants are aware UTC; as on the real site, URL stamps are UTC and files live in the
    folder of their local day."""

    def __init__(self, rows: int, expired: int, now: datetime) -> None:
        from dogcli.model.captures import Zones

        per_stream = rows // len(STREAMS)
        self.zones = Zones(ZoneInfo(SITE_TZ), ZoneInfo("UTC"))
        self.expired = expired // len(STREAMS)
        self.fresh = per_stream - self.expired
        self.retention_days = math.ceil(self.fresh / PER_DAY) + 1
        self.cutoff_day = now.astimezone(self.zones.site).date() - timedelta(
            days=self.retention_days
        )
        self.cutoff = self.zones.day_bounds(self.cutoff_day)[0]  # local midnight, in UTC
        self.now = now.astimezone(UTC)

    def timestamps(self, expired: bool) -> Iterator[datetime]:
        step = timedelta(minutes=10)
        if expired:  # backwards from just before the cutoff, then in order
            first = self.cutoff - step * self.expired + timedelta(minutes=5)
            for i in range(self.expired):
                yield first + step * i
        else:
            first = self.cutoff + timedelta(minutes=5)
            for i in range(self.fresh):
                yield first + step * i

    def records(self, expired: bool) -> Iterator[Any]:
        from dogcli.storage.base import StoredFile

        downloaded = self.now.isoformat()
        cdn = "https://cdn.example"
        days: dict[tuple[date, int], str] = {}  # (UTC date, hour) -> local day
        checked = False
        for ts in self.timestamps(expired):
            url_ts = ts.strftime("%Y-%m-%dT%H:%M:%S")
            compact = ts.strftime("%Y%m%dT%H%M%S")
            hour = (ts.date(), ts.hour)
            day = days.get(hour)
            if day is None:
                day = days[hour] = f"{self.zones.day_of(ts):%Y-%m-%d}"
            for stream in STREAMS:
                record = StoredFile(
                    terminal="apm",
                    stream=stream,
                    url_ts=url_ts,
                    variant="full",
                    path=f"images/apm/{stream}/{day}/{stream}_{compact}Z.jpg",
                    bytes=5000 + ts.minute,
                    sha256="0" * 64,
                    source_url=f"{cdn}/apm/{url_ts[:10]}/{ts.hour}/{url_ts}-{stream}.jpeg",
                    downloaded_at=downloaded,
                )
                if not checked:  # the same path and URL as dogcli's own
                    capture = self.zones.capture("apm", stream, url_ts)
                    assert (record.path, record.source_url) == (capture.rel_path, capture.url(cdn))
                    checked = True
                yield record

    def mid_day(self) -> date:
        return self.cutoff_day + timedelta(days=self.fresh // PER_DAY // 2)

    def per_day(self, day: date) -> int:
        """Captures of one stream on a local day (23, 24 or 25 hours: 138, 144 or 150)."""
        start, end = self.zones.day_bounds(day)
        return int((end - start).total_seconds()) // 600


def insert_all(catalog: Any, records: Iterator[Any], batch_size: int) -> tuple[int, float]:
    """Hand the records to Catalog.insert in chunks: (rows, seconds spent in insert)."""
    tz = ZoneInfo("UTC")  # the zone of the URL stamps
    chunk: list[Any] = []
    total = 0
    seconds = 0.0
    for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK:
            started = time.perf_counter()
            total += catalog.insert(chunk, tz, batch_size)
            seconds += time.perf_counter() - started
            chunk = []
    if chunk:
        started = time.perf_counter()
        total += catalog.insert(chunk, tz, batch_size)
        seconds += time.perf_counter() - started
    return total, seconds


def make_files(data_dir: Path, records: Iterator[Any]) -> int:
    folders: set[Path] = set()
    n = 0
    for record in records:
        path = data_dir / record.path
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        path.touch()
        n += 1
    return n


# -- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL server with its default durability; (url, note)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.pgserver import PgServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL binaries not found (apt-get install postgresql)")

    class DurablePg(PgServer):
        def start(self) -> None:
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres", "postgres")
            self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", self.user,
                      "--auth=trust", "--encoding=UTF8", "--no-sync")  # fmt: skip
            options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", options,
                      "-l", str(self.root / "log"), "-w", "-t", "60", "start")  # fmt: skip

    server = DurablePg(bindir)
    try:
        server.start()
        yield server.create_database("dogcli_bench"), f"PostgreSQL {bindir.parent.name}"
    finally:
        server.cleanup()


@contextlib.contextmanager
def database(kind: str, work: Path) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        import sqlite3

        yield f"sqlite:///{work / 'data' / 'dogcli.db'}", f"SQLite {sqlite3.sqlite_version}"
    elif kind == "postgresql":
        with postgres() as found:
            yield found
    else:
        raise ValueError(f"unknown database {kind!r}")


# -- the section -------------------------------------------------------------------------------


def run(cfg: Config) -> Section:
    rows, expired = cfg.catalog_rows, cfg.expired_rows
    sec = Section(
        "catalog",
        f"4. Catalog at scale ({rows:,} captures, {expired:,} of them expired for cleanup)",
    )
    sec.info.update(rows=rows, expired=expired)
    for kind in cfg.databases:
        try:
            _one(cfg, kind, sec)
        except (FileNotFoundError, subprocess.SubprocessError) as exc:
            sec.add(missing(f"{kind}", "", f"n/a ({exc})"))
    return sec


def _one(cfg: Config, kind: str, sec: Section) -> None:
    from dogcli.catalog.captures import Catalog
    from dogcli.config import Settings

    work = fresh_dir(cfg.workdir, f"catalog-{kind}")
    (work / "data").mkdir()
    rows = cfg.catalog_rows
    batch = Settings().batch_size
    with database(kind, work) as (url, version):
        sec.info[f"{kind}_version"] = version
        timeline = Timeline(rows, cfg.expired_rows, site_now())
        catalog = Catalog(url, 3, 0.05)
        try:
            catalog.upgrade()
            old, old_s = insert_all(catalog, timeline.records(expired=True), batch)
            new, new_s = insert_all(catalog, timeline.records(expired=False), batch)
            inserted, seconds = old + new, old_s + new_s
            log(f"{kind}: {inserted:,} rows in {seconds:.1f} s")
            metric = sec.add(
                Metric(f"{kind}: insert {inserted:,} rows (Catalog.insert)", "s", [seconds])
            )
            if kind == "sqlite":
                if inserted >= 1_000_000:
                    metric.check(TARGET_INSERT_SQLITE * inserted / 1_000_000)
                else:
                    metric.note = f"target {TARGET_INSERT_SQLITE:.0f} s at 1,000,000"
            sec.add(Metric(f"  {kind}: insert rate", "rows/s", value=inserted / seconds))
            _settle(catalog, kind)
            _ledger(catalog, timeline, inserted, kind, sec, cfg)
            _have_day(catalog, timeline, kind, sec, cfg)
        finally:
            catalog.close()
        env = dogcli_env(None, work / "data", DOGCLI_DATABASE_URL=url)
        _stats(env, kind, sec, cfg)
        _cleanup(env, url, timeline, work, kind, sec, cfg)


def _settle(catalog: Any, kind: str) -> None:
    """What a live PostgreSQL does by itself soon after bulk inserts (autovacuum): planner
    statistics and the visibility map that index-only scans need. SQLite has no such thing
    and gets nothing."""
    if kind != "postgresql":
        return
    from sqlalchemy import text

    with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE captures"))


def _ledger(
    catalog: Any, timeline: Timeline, inserted: int, kind: str, sec: Section, cfg: Config
) -> None:
    """The ledger made from the captures table (as `verify --repair` does, and as a fetch
    keeps it day by day), then the stats queries alone: they read its day rows, so they
    must not grow with the captures."""
    from dogcli.catalog.ledger import Ledger
    from dogcli.config import Settings
    from dogcli.reports.stats import collect_stats

    settings = Settings(streams=STREAMS)
    started = time.perf_counter()
    days = Ledger(catalog, "apm", timeline.zones).rebuild()
    sec.add(Metric(f"  {kind}: ledger rebuilt from the captures ({days:,} days)", "s",
                   [time.perf_counter() - started]))  # fmt: skip
    samples = []
    for _ in range(max(5, cfg.repeat * 10)):
        started = time.perf_counter()
        report = collect_stats(settings, catalog, STREAMS)
        samples.append((time.perf_counter() - started) * 1000)
    counted = sum(s.count for s in report.streams.values())
    if counted != inserted:
        raise RuntimeError(f"stats counted {counted:,} captures, not {inserted:,}")
    sec.add(Metric(f"{kind}: stats queries (from the ledger)", "ms", samples)).check(
        TARGET_STATS_QUERY_MS
    )


def _have_day(catalog: Any, timeline: Timeline, kind: str, sec: Section, cfg: Config) -> None:
    day = timeline.mid_day()
    bounds = timeline.zones.day_bounds(day)
    samples = []
    for _ in range(max(5, cfg.repeat * 10)):
        started = time.perf_counter()
        got = sum(len(catalog.have_day("apm", stream, *bounds)) for stream in STREAMS)
        samples.append((time.perf_counter() - started) * 1000)
    want = timeline.per_day(day) * len(STREAMS)
    if got != want:
        raise RuntimeError(f"have_day found {got} captures on {day}, not {want}")
    sec.add(Metric(f'  {kind}: "already have" check, a day ({got})', "ms", samples))


def _stats(env: dict[str, str], kind: str, sec: Section, cfg: Config) -> None:
    cmd = [sys.executable, "-m", "dogcli", "stats", "--json"]
    timed(cmd, env=env, cwd=ROOT)  # warm the page cache
    samples = [timed(cmd, env=env, cwd=ROOT)[0] for _ in range(max(3, cfg.repeat + 2))]
    sec.add(Metric(f"{kind}: dogcli stats (the command)", "s", samples)).check(TARGET_STATS)


def _cleanup(
    env: dict[str, str], url: str, timeline: Timeline, work: Path, kind: str, sec: Section,
    cfg: Config,
) -> None:  # fmt: skip
    label = f"{kind}: dogcli cleanup of {cfg.expired_rows:,}"
    scale = 100_000 / max(1, cfg.expired_rows)
    target = TARGET_CLEANUP / scale
    if not has_command(env, "cleanup"):
        sec.add(missing(label, "s", "n/a (command missing)", f"< {target:.1f}"))
        return
    from dogcli.catalog.captures import Catalog

    samples = []
    cmd = [sys.executable, "-m", "dogcli", "cleanup", "--retention-days",
           str(timeline.retention_days)]  # fmt: skip
    for i in range(min(cfg.repeat, 3)):
        if i:  # put the expired captures back
            with Catalog(url, 3, 0.05) as catalog:
                insert_all(catalog, timeline.records(expired=True), 1000)
        make_files(work / "data", timeline.records(expired=True))
        wall, done = timed(cmd, env=env, cwd=ROOT)
        if f"deleted {cfg.expired_rows // 2 * 2} captures" not in done.stdout + done.stderr:
            raise RuntimeError(f"cleanup did not delete the expired captures: {done.stdout}")
        samples.append(wall)
        log(f"{kind}: cleanup {i + 1}: {wall:.1f} s")
    metric = sec.add(Metric(label, "s", samples))
    if cfg.expired_rows >= 100_000:
        metric.check(target)
    else:
        metric.note = f"target {TARGET_CLEANUP:.0f} s at 100,000"

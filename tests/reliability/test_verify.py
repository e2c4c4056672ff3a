"""dogcli verify [--repair] [--since] [--deep] [--json]: catalog against disk, on real
catalogs (SQLite and PostgreSQL), real files and the replica's CDN."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from dogcli.archive.session import Archive
from dogcli.catalog.captures import Catalog
from dogcli.config import load_settings
from dogcli.jobs.verify import run_verify
from dogcli.model.captures import Capture, Zones
from dogcli.sources.cdn import CdnClient
from dogcli.storage.base import StoredFile
from dogcli.storage.local import LocalStorage
from tests.faultkit import cli_command, cli_env, kill_group, record, rows_of
from tests.replica import Replica, ReplicaConfig, make_dataset

LA = ZoneInfo("America/Los_Angeles")
ZONES = Zones(LA, ZoneInfo("UTC"))  # dogcli's default: URL stamps in UTC, local days
NOW = datetime(2025, 9, 6, 12, 0, 0, tzinfo=LA)
DAYS = [date(2025, 9, 4), date(2025, 9, 5)]  # local days: their URLs span 09-04 to 09-06 UTC


@pytest.fixture(scope="module")
def rep() -> Iterator[Replica]:
    ds = make_dataset(days=[*DAYS, NOW.date()], now=NOW, seed=11, outage_rate=0)
    for stream in ds.streams:  # small days: 12 captures each, every 2 hours
        for day in DAYS:
            ds[(stream, day)] = ds.captures(stream, day)[::12][:12]
    with Replica(ds, ReplicaConfig(api_delay=0, now=NOW)) as r:
        yield r


def at_local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A site-local wall time as an aware UTC instant."""
    return datetime.combine(day, day_time(hour, minute, second), LA).astimezone(UTC)


def capture_of(rep: Replica, stream: str, utc: datetime) -> Capture:
    """dogcli's capture of the replica's capture at `utc`, read from its URL stamp."""
    capture = ZONES.capture("apm", stream, rep.stamp(utc))
    assert capture.taken == utc
    return capture


def legacy_path(capture: Capture) -> str:
    """Where the earlier version kept a capture: named after its URL stamp, in the folder of
    the stamp's date (before URL stamps were known to be UTC)."""
    t = capture.url_ts
    compact = t.replace("-", "").replace(":", "")
    return f"images/apm/{capture.stream}/{t[:10]}/{capture.stream}_{compact}.jpg"


def build_archive(
    rep: Replica, db_url: str, data_dir: Path, place: Any = lambda c: c.rel_path
) -> dict[str, Any]:
    """Every capture of DAYS downloaded from the replica's CDN (as fetch does: CDN client,
    atomic files, rows), each stored at place(capture) with a row that points there."""
    settings = load_settings()
    storage = LocalStorage(data_dir)
    expected: dict[str, bytes] = {}
    records = []
    captures: dict[tuple[str, str], Capture] = {}
    with CdnClient(rep.cdn_url, retry_base=0.01) as cdn:
        for stream in rep.dataset.streams:
            for day in DAYS:
                for spec in rep.dataset.captures(stream, day):
                    capture = capture_of(rep, stream, spec.utc)
                    assert capture.day == day
                    got = cdn.download(capture)
                    rel = place(capture)
                    storage.write_atomic(rel, got.data)
                    expected[rel] = got.data
                    captures[(stream, capture.url_ts)] = capture
                    records.append(StoredFile("apm", stream, capture.url_ts, got.variant, rel,
                                              len(got.data), got.sha256, got.url,
                                              datetime.now(UTC).isoformat()))  # fmt: skip
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert(records, settings.zones.url)
    return {"dir": data_dir, "url": db_url, "expected": expected, "records": records,
            "captures": captures}  # fmt: skip


def _point_at(rep: Replica, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "data"
    env = {
        "DOGCLI_DATA_DIR": str(data_dir),
        "DOGCLI_DATABASE_URL": db_url,
        "DOGCLI_CDN_URL": rep.cdn_url,
        "DOGCLI_RETRY_BASE": "0.01",
        "DOGCLI_READ_TIMEOUT": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return data_dir


@pytest.fixture
def archive(
    rep: Replica, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A complete archive of DAYS made as fetch makes it, in the current layout."""
    return build_archive(rep, db_url, _point_at(rep, db_url, tmp_path, monkeypatch))


def catalog_rows(url: str) -> dict[tuple[str, str], tuple[str, int, str, str]]:
    """(stream, url_ts) -> (path, bytes, sha256, variant) of every row; fails on duplicates."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("select stream, url_ts, path, bytes, sha256, variant from captures")
        ).all()
    engine.dispose()
    out = {(r[0], r[1]): (r[2], int(r[3]), r[4], r[5]) for r in rows}
    assert len(out) == len(rows), "duplicate catalog rows"
    return out


def cdn_paths(rep: Replica) -> list[str]:
    """The CDN paths the replica answered (it logs a request just after its answer: wait until
    nothing is in flight)."""
    deadline = time.monotonic() + 10
    while rep.in_flight("/cdn/"):
        assert time.monotonic() < deadline, "the replica is still answering"
        time.sleep(0.01)
    return [unquote(r.path)[len("/cdn") :] for r in rep.cdn_requests()]


def _sql(url: str, statement: str, **params: Any) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _verify_json(cli: Any, *args: str) -> tuple[int, dict[str, Any]]:
    ran = cli("verify", "--json", *args)
    assert "Traceback" not in ran.err
    return ran.code, json.loads(ran.out)


def test_a_sound_archive_verifies_clean(archive: dict[str, Any], cli: Any) -> None:
    ran = cli("verify")
    assert ran.code == 0, ran.err
    assert "catalog and disk agree" in ran.out
    assert f"{len(archive['expected'])} rows, {len(archive['expected'])} files" in ran.out
    code, report = _verify_json(cli, "--deep")
    assert code == 0 and report["ok"] and report["problems"] == [] and report["deep"]


def test_every_kind_of_damage_is_found_then_repaired(
    archive: dict[str, Any], rep: Replica, cli: Any
) -> None:
    data_dir: Path = archive["dir"]
    url: str = archive["url"]
    records: list[StoredFile] = archive["records"]
    by_kind = dict(zip(["missing", "size", "sha256", "journaled", "unjournaled", "invalid",
                        "path"], records[::3], strict=False))  # fmt: skip
    path = {kind: data_dir / r.path for kind, r in by_kind.items()}
    path["missing"].unlink()
    path["size"].write_bytes(path["size"].read_bytes()[:-100])
    flipped = bytearray(path["sha256"].read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    path["sha256"].write_bytes(bytes(flipped))
    for kind in ("journaled", "unjournaled", "invalid"):
        _sql(url, "delete from captures where url_ts = :ts and stream = :s",
             ts=by_kind[kind].url_ts, s=by_kind[kind].stream)  # fmt: skip
    LocalStorage(data_dir).journal(by_kind["journaled"])
    path["invalid"].write_bytes(b"<html>502 Bad Gateway</html>")
    _sql(url, "update captures set path = :p where url_ts = :ts and stream = :s",
         p="../../../etc/passwd", ts=by_kind["path"].url_ts, s=by_kind["path"].stream)  # fmt: skip
    day_dir = path["missing"].parent
    leftover = day_dir / f".tmp-{path['missing'].name}.{_dead_pid()}.1"
    leftover.write_bytes(b"\xff\xd8\xff partial")
    own = day_dir / f".tmp-x.jpg.{os.getpid()}.1"  # a live writer's: not a leftover
    own.write_bytes(b"\xff\xd8\xff")
    (day_dir / "notes.txt").write_text("hello")
    (day_dir.parent / "not-a-day").mkdir()
    # A valid image of a capture the CDN does not know: cataloged with variant "unknown".
    ghost = ZONES.capture("apm", "in_gate", rep.stamp(at_local(DAYS[0], 3, 0, 7)))
    assert rep.dataset.find("in_gate", ghost.taken) is None
    ghost_bytes = rep.image_bytes("in_gate", ghost.taken, "full")
    (data_dir / ghost.rel_path).write_bytes(ghost_bytes)

    code, report = _verify_json(cli)
    assert code == 1 and not report["ok"]
    assert report["counts"] == {"missing": 1, "size": 1, "path": 1, "invalid": 1,
                                "uncataloged": 3, "leftover": 1, "unexpected": 2}  # fmt: skip
    code, deep = _verify_json(cli, "--deep")
    assert code == 1 and deep["counts"]["sha256"] == 1
    text_report = cli("verify")
    assert "missing: images/apm/" in text_report.out and "leftover:" in text_report.out

    rep.reset_stats()
    ran = cli("verify", "--repair", "--deep")
    assert ran.code == 0, ran.out + ran.err
    # missing, size, sha256 and invalid are downloaded again; the row with a wrong path is
    # pointed at its file, which is in place and sound: no download for it.
    assert ("repaired: downloaded 4, cataloged 3, moved 0, removed 1 leftovers, quarantined 2,"
            " failed 0") in ran.out  # fmt: skip
    path_capture = ZONES.capture("apm", by_kind["path"].stream, by_kind["path"].url_ts)
    assert cdn_paths(rep) and not any(
        p.startswith(rep.cdn_path(path_capture.stream, path_capture.taken)[:-5])
        for p in cdn_paths(rep)
    )
    assert not leftover.exists() and own.exists()
    own.unlink()
    assert (data_dir / "quarantine" / path["missing"].relative_to(data_dir).parent /
            "notes.txt").read_text() == "hello"  # fmt: skip
    assert (data_dir / "etc").exists() is False and Path("/etc/passwd").stat().st_size > 0

    code, after = _verify_json(cli, "--deep")
    assert code == 0, after
    expected = {**archive["expected"], ghost.rel_path: ghost_bytes}
    for rel, data in expected.items():
        assert (data_dir / rel).read_bytes() == data, rel
    rows = rows_of(url)
    assert {rel: (len(d), hashlib.sha256(d).hexdigest()) for rel, d in expected.items()} == rows
    engine = create_engine(url)
    with engine.connect() as conn:
        variants = dict(conn.execute(text("select url_ts, variant from captures")).all())
    engine.dispose()
    assert variants[ghost.url_ts] == "unknown"
    assert variants[by_kind["unjournaled"].url_ts] == by_kind["unjournaled"].variant
    record("verify_repair", damage_kinds=8, problems_found=report["counts"],
           repaired_clean_after=True)  # fmt: skip


def test_since_limits_the_check_to_later_days(archive: dict[str, Any], cli: Any) -> None:
    records = archive["records"]
    # An evening capture of DAYS[0]: its URL stamp is of DAYS[1] (UTC), its day is DAYS[0].
    early = next(r for r in records if r.url_ts.startswith(str(DAYS[1])) and
                 archive["captures"][(r.stream, r.url_ts)].day == DAYS[0])  # fmt: skip
    assert early.path.split("/")[3] == str(DAYS[0])
    (archive["dir"] / early.path).unlink()
    assert cli("verify").code == 1
    ran = cli("verify", "--since", str(DAYS[1]))
    assert ran.code == 0, ran.out
    assert f"from {DAYS[1]}" in ran.out
    code, report = _verify_json(cli, "--since", str(DAYS[0]))
    assert code == 1 and report["counts"] == {"missing": 1}


def test_repair_without_the_cdn_fails_clearly_and_keeps_the_row(
    archive: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = archive["records"][4]
    (archive["dir"] / victim.path).unlink()
    monkeypatch.setenv("DOGCLI_CDN_URL", "http://127.0.0.1:9/cdn")  # nothing listens there
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "1")
    ran = cli("verify", "--repair")
    assert ran.code == 1
    assert f"failed: {victim.stream} {victim.url_ts}" in ran.out
    assert victim.path in rows_of(archive["url"])  # the capture stays known: fetch retries it


def test_verify_is_fast_on_100000_captures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    db_path = tmp_path / "big.db"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", f"sqlite:///{db_path}")
    settings = load_settings()
    body = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 2 + b"\xff\xd9"
    digest = hashlib.sha256(body).hexdigest()
    made = time.monotonic()
    rows = []
    folders: set[str] = set()
    # Hard links to a few real files: verify sees 100,000 ordinary files, and building them
    # takes seconds instead of a minute of writes on a busy disk.
    sources = tmp_path / "sources"
    sources.mkdir()
    since_day = date(2024, 12, 1)
    since_rows = 0
    first = datetime(2024, 1, 1, 8, tzinfo=UTC)  # local midnight
    for i in range(50_000):  # a year of both streams at a 10-minute cadence
        utc = first + timedelta(minutes=10 * i, seconds=i % 37)
        day = utc.astimezone(LA).date()  # the folder: the local day; the name: the UTC time
        for stream in ("in_gate", "out_gate"):
            since_rows += day >= since_day
            rel = f"images/apm/{stream}/{day:%Y-%m-%d}/{stream}_{utc:%Y%m%dT%H%M%S}Z.jpg"
            folder = os.path.dirname(data_dir / rel)
            if folder not in folders:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            source = sources / f"{i // 20_000}.jpg"  # file systems cap links per inode
            if not source.exists():
                source.write_bytes(body)
            os.link(source, data_dir / rel)
            at = f"{utc:%Y-%m-%d %H:%M:%S}.000000"  # captured_at: the instant, UTC
            written = "2024-01-01 00:00:00.000000"
            rows.append(("apm", stream, f"{utc:%Y-%m-%dT%H:%M:%S}", at, "full", rel, len(body),
                         digest, "", written))  # fmt: skip
    with Catalog(settings.effective_database_url) as catalog:
        catalog.upgrade()
    with sqlite3.connect(db_path) as conn:  # plain inserts: building is not what is measured
        conn.executemany(
            "insert into captures (terminal, stream, url_ts, captured_at, variant, path, bytes,"
            " sha256, source_url, downloaded_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()
    build = time.monotonic() - made
    (data_dir / rows[7][5]).unlink()
    (data_dir / rows[9][5]).unlink()  # a link: replaced, not written through
    (data_dir / rows[9][5]).write_bytes(body[:-10])
    with Archive.open(settings) as session:
        began = time.monotonic()
        report = run_verify(session, "apm")
        sizes = time.monotonic() - began
        began = time.monotonic()
        deep = run_verify(session, "apm", deep=True)
        deep_seconds = time.monotonic() - began
        since = run_verify(session, "apm", since=since_day)
    assert (report.rows, report.files) == (100_000, 99_999)
    assert report.counts() == {"missing": 1, "size": 1}
    assert deep.counts() == {"missing": 1, "size": 1}
    # Rows are taken by capture time from the local day's start, files by their day folder:
    # both select the same captures.
    assert since.rows == since.files == since_rows < 15_000 and since.counts() == {}
    record("verify_100k", captures=100_000, seconds_sizes=round(sizes, 2),
           seconds_deep=round(deep_seconds, 2), seconds_to_build=round(build, 1))  # fmt: skip
    assert sizes < 15, sizes  # 1.4 s on an idle 2-core machine; generous for a loaded one


def test_quarantine_keeps_what_it_moves_and_reports(
    archive: dict[str, Any], cli: Any, rep: Replica
) -> None:
    # A capture-named file that is not an image, for a capture the CDN does not have.
    capture = ZONES.capture("apm", "out_gate", rep.stamp(at_local(DAYS[1], 5, 0, 1)))
    assert rep.dataset.find("out_gate", capture.taken) is None
    junk = archive["dir"] / capture.rel_path
    junk.write_bytes(b"not a jpeg")
    ran = cli("verify", "--repair")
    assert ran.code == 1  # the capture could not be downloaded: said so
    assert "404 for full size and thumbnail" in ran.out and "quarantined 1" in ran.out
    assert not junk.exists()
    assert (archive["dir"] / "quarantine" / capture.rel_path).read_bytes() == b"not a jpeg"
    assert cli("verify").code == 0


def test_repair_rows_are_plain_inserts_when_the_journal_disagrees(
    archive: dict[str, Any], cli: Any
) -> None:
    """A journal record whose hash does not match the file is not trusted."""
    target = archive["records"][2]
    _sql(archive["url"], "delete from captures where url_ts = :ts and stream = :s",
         ts=target.url_ts, s=target.stream)  # fmt: skip
    LocalStorage(archive["dir"]).journal(replace(target, sha256="0" * 64, variant="thumbnail"))
    assert cli("verify", "--repair").code == 0
    engine = create_engine(archive["url"])
    with engine.connect() as conn:
        variant, sha = conn.execute(
            text("select variant, sha256 from captures where url_ts = :ts and stream = :s"),
            {"ts": target.url_ts, "s": target.stream},
        ).one()
    engine.dispose()
    assert (variant, sha) == (target.variant, target.sha256)


# -- an archive of the earlier layout, against the live CDN -----------------------------------
# (tests/catalog/test_upgrade_layout.py covers the cases by hand with the CDN closed; here the
# archive is real downloads of two local days, the CDN answers, and its log shows what was
# asked.)


@pytest.fixture
def legacy(
    rep: Replica, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """DAYS as the earlier version stored them: {stream}_{URL stamp}.jpg in the folder of the
    stamp's date, rows pointing there (the catalog itself migrated to the current schema)."""
    made = build_archive(rep, db_url, _point_at(rep, db_url, tmp_path, monkeypatch), legacy_path)
    moving = [c for c in made["captures"].values() if legacy_path(c) != c.rel_path]
    assert all(legacy_path(c) in made["expected"] for c in made["captures"].values())
    # Every capture gets a new name, and the evening ones (URL stamped the next UTC date)
    # another folder too; the UTC date after the last local day holds only those.
    assert len(moving) == len(made["captures"])
    assert any(c.url_ts[:10] != str(c.day) for c in moving)
    assert any(c.url_ts[:10] == str(DAYS[-1] + timedelta(days=1)) for c in moving)
    return made


def new_layout(made: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {key: c.rel_path for key, c in made["captures"].items()}


def assert_moved_intact(made: dict[str, Any]) -> None:
    """Every capture at its place with the bytes it had; rows point there, hashes unchanged."""
    data_dir: Path = made["dir"]
    by_key = {(r.stream, r.url_ts): r for r in made["records"]}
    images = {p.relative_to(data_dir).as_posix() for p in (data_dir / "images").rglob("*.jpg")}
    assert images == set(new_layout(made).values())
    rows = catalog_rows(made["url"])
    assert set(rows) == set(by_key)
    for key, capture in made["captures"].items():
        record_ = by_key[key]
        assert (data_dir / capture.rel_path).read_bytes() == made["expected"][record_.path]
        assert rows[key] == (capture.rel_path, record_.bytes, record_.sha256, record_.variant)
    for stream in rep_streams(made):  # the legacy UTC-date folder that emptied is gone
        assert not (data_dir / f"images/apm/{stream}/{DAYS[-1] + timedelta(days=1)}").exists()


def rep_streams(made: dict[str, Any]) -> set[str]:
    return {stream for stream, _ts in made["captures"]}


def test_the_earlier_layout_is_moved_not_downloaded(
    legacy: dict[str, Any], rep: Replica, cli: Any
) -> None:
    data_dir: Path = legacy["dir"]
    n = len(legacy["captures"])
    # A control that the CDN is there and logged: one file of the archive is really gone,
    # and that one (only) must be downloaded again.
    gone = next(c for c in legacy["captures"].values() if c.url_ts[:10] != str(c.day))
    (data_dir / legacy_path(gone)).unlink()
    code, report = _verify_json(cli)
    assert code == 1
    assert report["counts"] == {"missing": 1, "layout": n - 1}
    (missing,) = [p for p in report["problems"] if p["kind"] == "missing"]
    assert (missing["url_ts"], missing["path"]) == (gone.url_ts, gone.rel_path)
    evening = next(p for p in report["problems"] if p["kind"] == "layout"
                   and p["url_ts"][:10] == str(DAYS[-1] + timedelta(days=1)))  # fmt: skip
    assert f"belongs at images/apm/{evening['stream']}/{DAYS[-1]}/" in evening["detail"]

    rep.reset_stats()
    code, report = _verify_json(cli, "--repair")
    assert code == 0, report
    assert report["repaired"] == {"downloaded": 1, "cataloged": 0, "removed": 0,
                                  "quarantined": 0, "moved": n - 1}  # fmt: skip
    assert report["failures"] == []
    assert cdn_paths(rep) == [rep.cdn_path(gone.stream, gone.taken, "full")]
    assert_moved_intact(legacy)

    rep.reset_stats()
    code, report = _verify_json(cli, "--deep")
    assert code == 0 and report["problems"] == [] and report["rows"] == report["files"] == n
    code, report = _verify_json(cli, "--repair")
    assert code == 0 and report["repaired"]["moved"] == report["repaired"]["downloaded"] == 0
    assert cdn_paths(rep) == []
    record("verify_legacy_layout", captures=n, moved=n - 1, downloaded=1)


def _hold_row_updates(url: str) -> Any:
    """Another session that lets readers through and makes every write to the catalog wait:
    SQLite's write lock (WAL: reads go on), PostgreSQL's EXCLUSIVE table lock (SELECT goes on,
    UPDATE waits). Returns a function that releases it."""
    engine = create_engine(url)
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        raw.isolation_level = None
        raw.execute("BEGIN IMMEDIATE")
    else:
        conn.execute(text("LOCK TABLE captures IN EXCLUSIVE MODE"))

    def release() -> None:
        conn.rollback() if engine.dialect.name != "sqlite" else raw.execute("ROLLBACK")
        conn.close()
        engine.dispose()

    return release


def _tree(data_dir: Path) -> tuple[set[str], set[str]]:
    """(files, day folders) under images/ (os.walk: folders may vanish while it looks)."""
    files: set[str] = set()
    days: set[str] = set()
    for folder, _dirs, names in os.walk(data_dir / "images"):
        rel = Path(folder).relative_to(data_dir).as_posix()
        if rel.count("/") == 3:
            days.add(rel)
        files.update(f"{rel}/{name}" for name in names)
    return files, days


def _update_waits(url: str) -> bool:
    """PostgreSQL: dogcli's row update is waiting on our lock (SQLite cannot tell: True)."""
    if not url.startswith("postgresql"):
        return True
    engine = create_engine(url)
    with engine.connect() as conn:
        waiting = conn.execute(text(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and query ilike 'update captures%'")).scalar()  # fmt: skip
    engine.dispose()
    return bool(waiting)


def test_a_repair_killed_between_rename_and_row_update_is_finished(
    legacy: dict[str, Any], rep: Replica, cli: Any
) -> None:
    """The crash window of the move, made by the real repair: the files are renamed, then the
    process dies while its row update waits; the next verify --repair points the rows."""
    data_dir: Path = legacy["dir"]
    url: str = legacy["url"]
    n = len(legacy["captures"])
    before = catalog_rows(url)
    env = {k: v for k, v in os.environ.items() if k.startswith("DOGCLI_")}
    release = _hold_row_updates(url)
    proc = subprocess.Popen(cli_command("verify", "--repair"), env=cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        # Renamed, and the emptied folders removed: all that is left is the row update,
        # which cannot commit while the lock is held (on PostgreSQL it is seen waiting).
        placed = set(new_layout(legacy).values())
        folders = {str(Path(p).parent) for p in placed}
        deadline = time.monotonic() + 60
        while not (_tree(data_dir) == (placed, folders) and _update_waits(url)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the repair never renamed the files"
            time.sleep(0.05)
        kill_group(proc)
        proc.wait(10)
    finally:
        kill_group(proc)
        release()
    assert proc.returncode == -9
    assert catalog_rows(url) == before  # cut short: every row still names the earlier path

    rep.reset_stats()
    code, report = _verify_json(cli)
    assert code == 1 and report["counts"] == {"path": n}
    code, report = _verify_json(cli, "--repair")
    assert code == 0, report
    assert report["repaired"]["moved"] == report["repaired"]["downloaded"] == 0
    assert report["failures"] == []
    assert cdn_paths(rep) == []
    assert_moved_intact(legacy)
    code, report = _verify_json(cli, "--deep")
    assert code == 0 and report["problems"] == []

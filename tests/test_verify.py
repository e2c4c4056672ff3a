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
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dogcli.captures import make_capture
from dogcli.catalog.store import Catalog
from dogcli.cdn import CdnClient
from dogcli.jobs.verify import run_verify
from dogcli.settings import load_settings
from dogcli.storage import Storage, StoredFile
from tests.faultkit import record, rows_of
from tests.replica import Replica, make_dataset

NOW = datetime(2025, 9, 6, 12, 0, 0)
DAYS = [date(2025, 9, 4), date(2025, 9, 5)]
TS = "%Y-%m-%dT%H:%M:%S"


@pytest.fixture(scope="module")
def rep() -> Iterator[Replica]:
    ds = make_dataset(days=[*DAYS, NOW.date()], now=NOW, seed=11, outage_rate=0)
    for stream in ds.streams:  # small days: 12 captures each
        for day in DAYS:
            ds[(stream, day)] = ds.captures(stream, day)[::12][:12]
    with Replica(ds, api_delay=0, now=NOW) as r:
        yield r


@pytest.fixture
def archive(
    rep: Replica, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A complete archive of DAYS made as fetch makes it (CDN client, atomic files, rows)."""
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
    settings = load_settings()
    storage = Storage(data_dir)
    expected: dict[str, bytes] = {}
    records = []
    with CdnClient(rep.cdn_url, retry_base=0.01) as cdn:
        for stream in rep.dataset.streams:
            for day in DAYS:
                for spec in rep.dataset.captures(stream, day):
                    capture = make_capture("apm", stream, spec.ts.strftime(TS))
                    got = cdn.download(capture)
                    storage.write_atomic(capture.rel_path, got.data)
                    expected[capture.rel_path] = got.data
                    records.append(
                        StoredFile(
                            "apm",
                            stream,
                            capture.site_ts,
                            got.variant,
                            capture.rel_path,
                            len(got.data),
                            got.sha256,
                            got.url,
                            datetime.now(UTC).isoformat(),
                        )
                    )
    with Catalog(db_url) as catalog:
        catalog.upgrade()
        catalog.insert(records, settings.tz)
    return {"dir": data_dir, "url": db_url, "expected": expected, "records": records}


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
        _sql(url, "delete from captures where site_ts = :ts and stream = :s",
             ts=by_kind[kind].site_ts, s=by_kind[kind].stream)  # fmt: skip
    Storage(data_dir).journal(by_kind["journaled"])
    path["invalid"].write_bytes(b"<html>502 Bad Gateway</html>")
    _sql(url, "update captures set path = :p where site_ts = :ts and stream = :s",
         p="../../../etc/passwd", ts=by_kind["path"].site_ts, s=by_kind["path"].stream)  # fmt: skip
    day_dir = path["missing"].parent
    leftover = day_dir / f".tmp-{path['missing'].name}.{_dead_pid()}.1"
    leftover.write_bytes(b"\xff\xd8\xff partial")
    own = day_dir / f".tmp-x.jpg.{os.getpid()}.1"  # a live writer's: not a leftover
    own.write_bytes(b"\xff\xd8\xff")
    (day_dir / "notes.txt").write_text("hello")
    (day_dir.parent / "not-a-day").mkdir()
    # A valid image of a capture the CDN does not know: cataloged with variant "unknown".
    ghost_ts = datetime.combine(DAYS[0], datetime.min.time()) + timedelta(hours=3, seconds=7)
    ghost = make_capture("apm", "in_gate", ghost_ts.strftime(TS))
    ghost_bytes = rep.image_bytes("in_gate", ghost_ts, "full")
    (data_dir / ghost.rel_path).write_bytes(ghost_bytes)

    code, report = _verify_json(cli)
    assert code == 1 and not report["ok"]
    assert report["counts"] == {"missing": 1, "size": 1, "path": 1, "invalid": 1,
                                "uncataloged": 3, "leftover": 1, "unexpected": 2}  # fmt: skip
    code, deep = _verify_json(cli, "--deep")
    assert code == 1 and deep["counts"]["sha256"] == 1
    text_report = cli("verify")
    assert "missing: images/apm/" in text_report.out and "leftover:" in text_report.out

    ran = cli("verify", "--repair", "--deep")
    assert ran.code == 0, ran.out + ran.err
    assert "repaired: downloaded 5, cataloged 3, removed 1 leftovers, quarantined 2" in ran.out
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
        variants = dict(conn.execute(text("select site_ts, variant from captures")).all())
    engine.dispose()
    assert variants[ghost.site_ts] == "unknown"
    assert variants[by_kind["unjournaled"].site_ts] == by_kind["unjournaled"].variant
    record("verify_repair", damage_kinds=8, problems_found=report["counts"],
           repaired_clean_after=True)  # fmt: skip


def test_since_limits_the_check_to_later_days(archive: dict[str, Any], cli: Any) -> None:
    records = archive["records"]
    early = next(r for r in records if r.site_ts.startswith(str(DAYS[0])))
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
    assert f"failed: {victim.stream} {victim.site_ts}" in ran.out
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
    for i in range(50_000):  # a year of both streams at a 10-minute cadence
        local = datetime(2024, 1, 1) + timedelta(minutes=10 * i, seconds=i % 37)
        for stream in ("in_gate", "out_gate"):
            rel = f"images/apm/{stream}/{local:%Y-%m-%d}/{stream}_{local:%Y%m%dT%H%M%S}.jpg"
            folder = os.path.dirname(data_dir / rel)
            if folder not in folders:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            source = sources / f"{i // 20_000}.jpg"  # file systems cap links per inode
            if not source.exists():
                source.write_bytes(body)
            os.link(source, data_dir / rel)
            at = f"{local:%Y-%m-%d %H:%M:%S}.000000"
            written = "2024-01-01 00:00:00.000000"
            rows.append(("apm", stream, local.strftime(TS), at, "full", rel, len(body), digest, "",
                         written))  # fmt: skip
    with Catalog(settings.effective_database_url) as catalog:
        catalog.upgrade()
    with sqlite3.connect(db_path) as conn:  # plain inserts: building is not what is measured
        conn.executemany(
            "insert into captures (terminal, stream, site_ts, captured_at, variant, path, bytes,"
            " sha256, source_url, downloaded_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()
    build = time.monotonic() - made
    (data_dir / rows[7][5]).unlink()
    (data_dir / rows[9][5]).unlink()  # a link: replaced, not written through
    (data_dir / rows[9][5]).write_bytes(body[:-10])
    with Catalog(settings.effective_database_url) as catalog:
        began = time.monotonic()
        report = run_verify(settings, catalog)
        sizes = time.monotonic() - began
        began = time.monotonic()
        deep = run_verify(settings, catalog, deep=True)
        deep_seconds = time.monotonic() - began
        since = run_verify(settings, catalog, since=date(2024, 12, 1))
    assert (report.rows, report.files) == (100_000, 99_999)
    assert report.counts() == {"missing": 1, "size": 1}
    assert deep.counts() == {"missing": 1, "size": 1}
    assert since.rows < 15_000 and since.counts() == {}
    record("verify_100k", captures=100_000, seconds_sizes=round(sizes, 2),
           seconds_deep=round(deep_seconds, 2), seconds_to_build=round(build, 1))  # fmt: skip
    assert sizes < 15, sizes  # 1.4 s on an idle 2-core machine; generous for a loaded one


def test_quarantine_keeps_what_it_moves_and_reports(
    archive: dict[str, Any], cli: Any, rep: Replica
) -> None:
    # A capture-named file that is not an image, for a capture the CDN does not have.
    ts = datetime.combine(DAYS[1], datetime.min.time()) + timedelta(hours=5, seconds=1)
    capture = make_capture("apm", "out_gate", ts.strftime(TS))
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
    _sql(archive["url"], "delete from captures where site_ts = :ts and stream = :s",
         ts=target.site_ts, s=target.stream)  # fmt: skip
    Storage(archive["dir"]).journal(replace(target, sha256="0" * 64, variant="thumbnail"))
    assert cli("verify", "--repair").code == 0
    engine = create_engine(archive["url"])
    with engine.connect() as conn:
        variant, sha = conn.execute(
            text("select variant, sha256 from captures where site_ts = :ts and stream = :s"),
            {"ts": target.site_ts, "s": target.stream},
        ).one()
    engine.dispose()
    assert (variant, sha) == (target.variant, target.sha256)

"""Contained paths (issue 15, §4): nothing outside the data dir is written, truncated or
deleted through a symlink, and `config init --force` writes only over a dogcli config.

Real symlinks, real files and a real SQLite catalog; commands through the CLI's entry point.
"""

from __future__ import annotations

import os
import shutil
import stat
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dogcli.archive.lock import FileLock
from dogcli.jobs.config import starter_toml
from dogcli.model.errors import DataDirUnusable, StorageError
from dogcli.storage.local import LocalStorage, disk_percent
from tests.archivekit import capture_at, populate, rows, site_now

# -- config init --force ------------------------------------------------------------------------


def _one_error(ran: Any, words: str) -> None:
    assert ran.code == 2, (ran.out, ran.err)
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], ran.err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("root:x:0:0:root:/root:/bin/bash\n", "is not a dogcli config file (not TOML)"),
        ('title = "my app"\n[server]\nport = 80\n', "unknown setting 'title'"),
        ("[dogcli]\nconcurrency = 4\n[other]\nkey = 1\n", "unknown setting 'dogcli'"),
        ("[dogcli]\ncolour = 'blue'\n", "unknown setting 'colour'"),
        ("dogcli = 5\n", "[dogcli] is not a table"),
        ("\xff\xfe binary", "not TOML"),
    ],
)
def test_init_force_refuses_a_file_that_is_not_a_dogcli_config(
    cli: Any, tmp_path: Path, content: str, words: str
) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(content.encode("latin-1"))
    path.chmod(0o644)
    ran = cli("config", "init", "--force", str(path))
    _one_error(ran, words)
    assert path.read_bytes() == content.encode("latin-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["passwd"]  # no temporary left either


@pytest.mark.parametrize("content", ["concurrency = 8\n", "[dogcli]\nretention-days = 9\n", ""])
def test_init_force_overwrites_a_dogcli_config_and_keeps_its_mode(
    cli: Any, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(content)
    path.chmod(0o640)
    ran = cli("config", "init", "--force", str(path))
    assert ran.code == 0, ran.err
    assert path.read_text() == starter_toml()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # not 0600: the owner chose this mode
    assert tomllib.loads(path.read_text()) == {"dogcli": {}}


def test_a_new_config_is_still_readable_by_its_owner_only(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    assert cli("config", "init", str(path)).code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", ["dogcli config outside", "other file", "dangling"])
def test_init_never_writes_through_a_symlink(cli: Any, tmp_path: Path, kind: str) -> None:
    folder, outside = tmp_path / "cfg", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    target = outside / "target.toml"
    if kind == "dogcli config outside":
        target.write_text("concurrency = 8\n")
    elif kind == "other file":
        target.write_text("keep me\n")
    link = folder / "config.toml"
    link.symlink_to(target)
    for args in (["--force", str(link)], [str(link)]):
        ran = cli("config", "init", *args)
        _one_error(ran, "is a symlink")
        assert link.is_symlink() and os.readlink(link) == str(target)
    if kind == "dangling":
        assert not target.exists()  # nothing created through it either
    else:
        assert target.read_text() in ("concurrency = 8\n", "keep me\n")
    assert os.listdir(folder) == ["config.toml"]


def test_init_refuses_what_is_not_a_regular_file(cli: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    _one_error(cli("config", "init", "--force", str(fifo)), "not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


# -- cleanup ------------------------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOGCLI_RETRY_BASE", "0.01")
    return {"dir": data_dir, "url": f"sqlite:///{data_dir / 'dogcli.db'}", "tmp": tmp_path}


def _day(offset: int) -> datetime:
    return datetime.combine(site_now().date() + timedelta(days=offset), datetime.min.time())


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "a symlink, which cleanup never follows" in line]


def test_cleanup_skips_symlinked_day_and_stream_folders_and_goes_on(
    archive: dict[str, Any], cli: Any
) -> None:
    data, tmp = archive["dir"], archive["tmp"]
    expired = [_day(d) + timedelta(hours=h) for d in (-12, -11, -10) for h in (1, 9, 17)]
    kept = [_day(-1) + timedelta(hours=h) for h in (1, 9, 17)]
    populate(data, archive["url"], expired + kept)
    in_gate = data / "images/apm/in_gate"
    # 1. An expired day folder moved out of the data dir and linked back (its rows remain).
    outside_day = tmp / "cold-storage"
    linked = in_gate / f"{_day(-12):%Y-%m-%d}"
    shutil.move(str(linked), outside_day)
    linked.symlink_to(outside_day)
    # 2. An expired day folder linked INSIDE the data dir, to a day within the retention.
    inner = in_gate / f"{_day(-20):%Y-%m-%d}"
    inner.symlink_to(in_gate / f"{_day(-1):%Y-%m-%d}")
    # 3. An unknown stream folder linked to a folder outside that looks like an archive.
    victim = tmp / "victim"
    (victim / f"{_day(-30):%Y-%m-%d}").mkdir(parents=True)
    (victim / f"{_day(-30):%Y-%m-%d}" / "precious.jpg").write_bytes(b"not yours")
    stream_link = data / "images/apm/zz_stream"
    stream_link.symlink_to(victim)
    outside_before, victim_before = _tree(outside_day), _tree(victim)
    kept_files = {capture_at(m).rel_path for m in kept}

    ran = cli("cleanup", "--retention-days", "3")
    assert ran.code == 0, ran.err
    # 6 captures of the two real expired days deleted; the 3 behind the link only uncataloged.
    assert "deleted 6 captures" in ran.out, ran.out
    warned = _warnings(ran.err)
    assert sorted(warned) == sorted(
        f"dogcli: skipped {p}: a symlink, which cleanup never follows"
        for p in (linked, inner, stream_link)
    ), ran.err
    assert _tree(outside_day) == outside_before and _tree(victim) == victim_before
    for rel in kept_files:
        assert (data / rel).is_file(), rel  # the in-dir link led to these: untouched
    assert linked.is_symlink() and inner.is_symlink() and stream_link.is_symlink()
    left = sorted(r["path"] for r in rows(archive["url"]))
    assert left == sorted(kept_files)  # retention kept working: no expired row is left
    for offset in (-11, -10):
        assert not (in_gate / f"{_day(offset):%Y-%m-%d}").exists()
    run = rows(archive["url"], "runs")[-1]
    assert (run["command"], run["outcome"], run["deleted"]) == ("cleanup", "ok", 6)

    again = cli("cleanup", "--retention-days", "3")
    assert again.code == 0, again.err
    assert "deleted 0 captures" in again.out
    assert len(_warnings(again.err)) == 3  # still said, each once, still exit 0
    dry = cli("cleanup", "--retention-days", "3", "--dry-run")
    assert dry.code == 0 and len(_warnings(dry.err)) == 3
    assert _tree(outside_day) == outside_before and _tree(victim) == victim_before


def test_cleanup_to_free_disk_never_deletes_behind_a_symlink(
    archive: dict[str, Any], cli: Any
) -> None:
    data, tmp = archive["dir"], archive["tmp"]
    if disk_percent(tmp) <= 1:
        pytest.skip("the disk is under 1% full: --max-disk-percent 1 deletes nothing")
    old = [_day(-6) + timedelta(hours=h) for h in (1, 9)] + [_day(-5) + timedelta(hours=2)]
    recent = [site_now() - timedelta(hours=1)]
    populate(data, archive["url"], old + recent)
    linked = data / f"images/apm/in_gate/{_day(-6):%Y-%m-%d}"
    outside = tmp / "cold"
    shutil.move(str(linked), outside)
    linked.symlink_to(outside)
    before = _tree(outside)

    ran = cli("cleanup", "--retention-days", "36500", "--max-disk-percent", "1")
    assert ran.code == 0, ran.err
    assert "deleted 1 captures" in ran.out, ran.out  # the real one; 2 rows behind the link
    assert _warnings(ran.err) == [
        f"dogcli: skipped {linked}: a symlink, which cleanup never follows"
    ]
    assert _tree(outside) == before
    assert [r["path"] for r in rows(archive["url"])] == [capture_at(recent[0]).rel_path]


def test_storage_refuses_to_delete_or_write_through_a_symlinked_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    storage = LocalStorage(data)
    storage.write_atomic("images/apm/in_gate/2025-09-06/a.jpg", b"kept day")
    (data / "images/apm/in_gate/2025-09-01").symlink_to(data / "images/apm/in_gate/2025-09-06")
    linked = "images/apm/in_gate/2025-09-01/a.jpg"
    for act in (lambda: storage.delete(linked), lambda: storage.write_atomic(linked, b"other")):
        with pytest.raises(StorageError, match="through a symlink"):
            act()
    assert (data / "images/apm/in_gate/2025-09-06/a.jpg").read_bytes() == b"kept day"
    # A stale temporary behind the link is not swept either.
    stale = data / "images/apm/in_gate/2025-09-06/.tmp-a.jpg.999999999.1"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    assert storage.sweep_temps("apm", "in_gate", "2025-09-01") == 0 and stale.exists()
    assert storage.sweep_temps("apm", "in_gate", "2025-09-06") == 1


# -- the lock file ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["cleanup"], ["verify"], ["fetch"]])
def test_a_symlinked_lock_never_truncates_its_target(
    archive: dict[str, Any], cli: Any, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the lock taken, fetch would stop at once at this browser (not on a site).
    for name in ("DOGCLI_CHROME_BINARY", "DOGCLI_CHROMEDRIVER"):
        monkeypatch.setenv(name, "/bin/true")
    monkeypatch.setenv("DOGCLI_SITE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DOGCLI_CDN_URL", "http://127.0.0.1:9/cdn")
    assert cli("db", "upgrade").code == 0  # an archive: verify takes the lock (shared)
    victim = archive["tmp"] / "victim.txt"
    victim.write_text("precious content\n")
    lock = archive["dir"] / ".lock"
    lock.symlink_to(victim)
    ran = cli(*command)
    assert ran.code == 2, (ran.out, ran.err)
    assert f"dogcli: error: {lock} is a symlink" in ran.err.strip().splitlines()[-1], ran.err
    assert "Traceback" not in ran.err
    assert victim.read_text() == "precious content\n"
    assert lock.is_symlink()


@pytest.mark.parametrize("shared", [False, True])
def test_a_dangling_lock_symlink_creates_nothing(tmp_path: Path, shared: bool) -> None:
    data = tmp_path / "data"
    data.mkdir()
    target = tmp_path / "created-through-the-link"
    (data / ".lock").symlink_to(target)
    lock = FileLock(data, shared=shared)
    with pytest.raises(DataDirUnusable, match="is a symlink"):
        lock.acquire()
    assert not target.exists() and lock.fd is None


def test_a_regular_lock_file_still_works_and_names_its_holder(tmp_path: Path) -> None:
    lock = FileLock(tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / ".lock").read_text() == f"pid {os.getpid()}\n"
    finally:
        lock.release()

"""The overlap lock: one writing run at a time, and a killed holder never blocks."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.archivekit import (
    ROOT,
    rows,
)

HOLDER = """
import sys, time
from pathlib import Path
from dogcli.archive.lock import archive_lock
from dogcli.catalog.captures import Catalog
catalog = Catalog(sys.argv[2]) if sys.argv[2] != "-" else None
with archive_lock(Path(sys.argv[1]), catalog):
    print("held", flush=True)
    sys.stdin.read()
"""


@dataclass
class Holder:
    proc: subprocess.Popen[str]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def listing(folder: Path) -> dict[str, int]:
    """Files and sizes, but SQLite's own -wal/-shm companions."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def hold_lock(data_dir: Path, url: str | None) -> Holder:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), url or "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return Holder(proc)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_second_run_exits_75_untouched_and_a_killed_holder_does_not_block(
    backend: str,
    archive: dict[str, Any],
    cli: Any,
    chromium: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    url = archive["url"] if backend == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("DOGCLI_DATABASE_URL", url)
    monkeypatch.setenv("DOGCLI_SITE_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("DOGCLI_CHROME_BINARY", chromium[0])
    monkeypatch.setenv("DOGCLI_CHROMEDRIVER", chromium[1])
    assert cli("db", "upgrade").code == 0
    holder = hold_lock(archive["dir"], url if backend == "postgresql" else None)
    before = listing(archive["dir"])
    try:
        ran = cli("fetch", "--wait", "0.5")
        assert ran.code == 75, ran.err
        assert "another dogcli run holds" in ran.err and "gave up after 0.5s" in ran.err
        assert len(ran.err.strip().splitlines()) == 1
        assert not (archive["dir"] / "images").exists()
        assert listing(archive["dir"]) == before
        journal = rows(url, "runs")
        assert [(r["command"], r["outcome"]) for r in journal] == [("fetch", "skipped")]
        assert cli("cleanup").code == 75
    finally:
        holder.kill()
    # The holder died with SIGKILL: its lock went with it.
    ran = cli("cleanup", "--wait", "5")
    assert ran.code == 0, ran.err
    assert [r["outcome"] for r in rows(url, "runs")][-1] == "ok"

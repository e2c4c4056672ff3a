"""verify holds the archive lock: never beside a fetch, backfill or cleanup (a verify during
a backfill reported the files not yet cataloged as "uncataloged"). Looking takes it shared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dogcli.model.status import ExitStatus

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from pathlib import Path
from dogcli.archive.lock import archive_lock
from dogcli.catalog.captures import Catalog
catalog = Catalog(sys.argv[2]) if sys.argv[2] != "-" else None
with archive_lock(Path(sys.argv[1]), catalog, shared=sys.argv[3] == "shared"):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held(data_dir: Path, url: str | None, mode: str = "exclusive") -> Iterator[Any]:
    """Another process holds the archive lock until the block ends (then it exits cleanly)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), url or "-", mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dogcli", *args], cwd=ROOT, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path, cli: Any,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:  # fmt: skip
    data_dir = tmp_path / "data"
    env = {"DOGCLI_DATA_DIR": str(data_dir), "DOGCLI_RETRY_BASE": "0.01"}
    url = None
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
        env["DOGCLI_DATABASE_URL"] = url
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli("db", "upgrade").code == 0
    return {"dir": data_dir, "url": url, "env": env}


def test_verify_waits_for_a_run_then_gives_up_with_75(archive: dict[str, Any], cli: Any) -> None:
    with held(archive["dir"], archive["url"]) as holder:
        for args in (["verify"], ["verify", "--repair"], ["verify", "--json"]):
            ran = cli(*args, "--wait", "0.3")
            assert ran.code == ExitStatus.BUSY, (args, ran.err)
            assert "gave up after 0.3s" in ran.err and len(ran.err.strip().splitlines()) == 1
            assert ran.out == ""
        waiting = start_cli("verify", "--wait", "60", env=archive["env"])
        with pytest.raises(subprocess.TimeoutExpired):  # still waiting for the lock
            waiting.wait(timeout=1)
        assert holder.stdin is not None
        holder.stdin.close()  # the run ends, its lock with it
        out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == ExitStatus.OK, err
    assert "catalog and disk agree" in out


def test_verifies_share_the_lock_and_keep_writers_out(archive: dict[str, Any], cli: Any) -> None:
    with held(archive["dir"], archive["url"], "shared"):
        ran = cli("verify")
        assert ran.code == ExitStatus.OK, ran.err
        ran = cli("cleanup", "--wait", "0.3")
        assert ran.code == ExitStatus.BUSY, ran.err
        ran = cli("verify", "--repair", "--wait", "0.3")
        assert ran.code == ExitStatus.BUSY, ran.err
    assert cli("cleanup").code == ExitStatus.OK


def test_read_only_verify_locks_a_read_only_archive(tmp_path: Path, cli: Any) -> None:
    """A user who may only read the archive (group dogcli) can still verify: a shared flock
    needs no write access to .lock."""
    data_dir = tmp_path / "data"
    assert cli("--data-dir", str(data_dir), "cleanup").code == 0  # makes the catalog and .lock
    (data_dir / ".lock").chmod(0o444)
    with held(data_dir, None, "shared"):
        ran = cli("--data-dir", str(data_dir), "verify")
    assert ran.code == ExitStatus.OK, ran.err

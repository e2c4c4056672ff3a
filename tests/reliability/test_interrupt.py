"""Ctrl-C and SIGTERM stop a long backfill within a few seconds: queued downloads are
cancelled, the ones in flight finish or are discarded, the journal is kept, the run is
journaled; a second Ctrl-C stops it at once. Real processes, real signals, the replica with
a slow CDN so that the download queue is long."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dogcli.catalog.captures import Catalog
from dogcli.catalog.models import CaptureRow, RunRow
from tests.faultkit import cli_command, cli_env, kill_group, run_cli

pytestmark = pytest.mark.browser


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(cli_command(*args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def wait_for_downloads(site: Any, proc: subprocess.Popen[str], count: int) -> None:
    """Until dogcli itself has fetched `count` images (its User-Agent says dogcli)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        mine = [r for r in site.replica.cdn_requests() if r.agent.startswith("dogcli")]
        if len(mine) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"dogcli did not start downloading (exit {proc.poll()})")


def stop_and_time(proc: subprocess.Popen[str], signals: list[int]) -> tuple[float, str]:
    started = time.monotonic()
    for number in signals:
        proc.send_signal(number)
        time.sleep(0.2)  # a person pressing Ctrl-C twice, not a wait for the page
    try:
        _out, err = proc.communicate(timeout=30)
    finally:
        kill_group(proc)
    return time.monotonic() - started, err


def archive_state(data: Path) -> tuple[set[str], set[str], Any]:
    """(cataloged paths, files on disk, the last run's journal row)."""
    with Catalog(f"sqlite:///{data / 'dogcli.db'}") as cat, cat.engine.connect() as conn:
        rows = {p for (p,) in conn.execute(select(CaptureRow.path))}
        runs = conn.execute(select(RunRow.outcome, RunRow.error, RunRow.new)).all()
    files = {str(p.relative_to(data)) for p in (data / "images").rglob("*.jpg")}
    return rows, files, runs[-1] if runs else None


@pytest.mark.parametrize(
    ("signals", "code", "within"),
    [
        ([signal.SIGINT], 130, 8.0),
        ([signal.SIGTERM], 143, 8.0),
        ([signal.SIGINT, signal.SIGINT], 130, 3.0),
    ],
    ids=["ctrl-c", "sigterm", "ctrl-c-twice"],
)
def test_a_long_backfill_stops_within_seconds(
    make_site: Any, signals: list[int], code: int, within: float
) -> None:
    site = make_site(days=4, cdn_latency=0.25, dataset_kwargs={"interval": 1200})
    env = cli_env(site.env, DOGCLI_CONCURRENCY="4")
    days = f"{site.day(-3)}..{site.day(-1)}"
    proc = start(env, "backfill", days)
    wait_for_downloads(site, proc, 12)
    seconds, err = stop_and_time(proc, signals)
    assert proc.returncode == code, err
    assert seconds < within, f"took {seconds:.1f}s to stop"
    assert "Traceback" not in err
    assert ("terminated" if code == 143 else "interrupted") in err
    # Nothing half-done: every file is cataloged or in the pending journal, no temporaries,
    # and the run is journaled as interrupted.
    rows, files, last = archive_state(site.data_dir)
    journal = site.data_dir / ".pending.jsonl"
    journaled = journal.read_text() if journal.exists() else ""
    assert all(f in rows or f in journaled for f in files)
    assert not list((site.data_dir / "images").rglob(".tmp-*"))
    total = sum(len(site.replica.expected(s, site.day(d))) for s in ("in_gate", "out_gate")
                for d in (-3, -2, -1))  # fmt: skip
    assert 0 < len(files) < total / 2  # it stopped early, after real work
    assert last is not None and last.outcome == "failed" and last.new > 0, last
    # The next run finishes the job.
    site.replica.cdn_latency = 0.0
    assert run_cli("backfill", days, env=env, timeout=300).code == 0
    rows, files, last = archive_state(site.data_dir)
    assert len(files) == len(rows) == total and last.outcome == "ok"

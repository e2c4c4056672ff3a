"""Four processes on one PostgreSQL catalog: no duplicate rows, no errors.

Two ways: the CLI as four hosts start it (each its own data dir, one catalog; the archive lock
is PostgreSQL's advisory lock, so with --wait the runs take turns), and the collect job itself
in four processes at once on one data dir, without the lock, which is what the catalog's
insert-or-ignore and the migration lock must survive on their own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Site
from tests.faultkit import (
    ROOT,
    archive_state,
    assert_complete,
    cli_env,
    expected_bytes,
    kill_group,
    record,
    rows_of,
)
from tests.reliability.test_faults import trim

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PROCESSES = 4

RUN_JOB = """
import sys
from datetime import date
from dogcli.jobs.fetch import run_backfill
from dogcli.config import load_settings
from dogcli.cli.render import summary_line
day = date.fromisoformat(sys.argv[1])
summary = run_backfill(load_settings(), day, day)
print(summary_line(summary))
sys.exit(0 if summary.ok else 1)
"""


def _site(make_site: Any, pg_url: str) -> tuple[Site, Any, dict[str, bytes]]:
    site = make_site(days=2, database_url=pg_url, api_delay=0.0, gallery="eager", cdn_latency=0.02)
    site.env["DOGCLI_STREAMS"] = "in_gate"  # one page per run: the catalog is what is tested
    day = site.day(-1)
    trim(site, "in_gate", day, 20)
    return site, day, expected_bytes(site.replica, ("in_gate",), [day])


def test_four_hosts_one_catalog_take_turns(make_site: Any, pg_url: str, tmp_path: Path) -> None:
    site, day, expected = _site(make_site, pg_url)
    hosts = [tmp_path / f"host{i}" for i in range(PROCESSES)]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dogcli", "backfill", str(day), "--wait", "120"],
            env=cli_env(site.env, DOGCLI_DATA_DIR=str(host)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for host in hosts
    ]
    try:
        results = [proc.communicate(timeout=180) for proc in procs]
    finally:
        for proc in procs:
            kill_group(proc)
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert b"error" not in err.lower(), err.decode()
    for host in hosts:  # every host has every file; the one catalog has every row once
        assert_complete(archive_state(host, pg_url), expected)
    record("concurrent_hosts_postgresql", processes=PROCESSES, exit_codes=[0] * PROCESSES,
           rows=len(rows_of(pg_url)), duplicates=0,
           seconds=round(time.monotonic() - started, 1))  # fmt: skip


def test_four_jobs_at_once_without_the_lock(make_site: Any, pg_url: str) -> None:
    site, day, expected = _site(make_site, pg_url)
    env = cli_env(site.env, DOGCLI_BATCH_SIZE="3")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_JOB, str(day)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        results = [proc.communicate(timeout=180) for proc in procs]
    finally:
        for proc in procs:
            kill_group(proc)
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, (out + err).decode()
        assert b"Traceback" not in err, err.decode()
    assert_complete(archive_state(site.data_dir, pg_url), expected)
    record("concurrent_jobs_postgresql", processes=PROCESSES, rows=len(rows_of(pg_url)),
           duplicates=0, errors=0)  # fmt: skip

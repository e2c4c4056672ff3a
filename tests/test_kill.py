"""SIGKILL at random moments: the real CLI as a process, killed while it downloads, renames
and catalogs (batch size 5, a slow CDN), never leaves a partial or foreign image file under a
capture's name nor a catalog row without its file, and the next run completes the work.

Moments are drawn from a seeded generator. Most kills come after the run's first download has
started (uniform over the next seconds), a few at any moment from the start (schema creation,
browser start). What each kill interrupted is read from the state it left behind:

- download: a full-size request of dogcli was in flight at the replica;
- write: a temporary file was left in a day folder (killed between open and rename);
- rename: the pending journal names a file that is not in place (journaled, not renamed);
- catalog: a file in place has no row yet (renamed, not yet inserted);
- start: none of these, and no image requested yet (migrations, browser, first page).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Site
from tests.faultkit import (
    archive_state,
    assert_complete,
    assert_sound,
    cli_env,
    expected_bytes,
    kill_group,
    record,
    run_cli,
    start_cli,
)

pytestmark = pytest.mark.browser

KILLS = 20
SEED = 20251121
DAYS = 10  # past days; most runs get a fresh one, so every kill lands in real work
PER_DAY = 12  # captures per stream and day


def _dogcli_full_requests(site: Site, day: date) -> int:
    return sum(
        1
        for r in site.replica.cdn_requests(f"/{day}/")
        if r.agent.startswith("dogcli/") and not r.path.endswith("-thumbnail.jpeg")
    )


def _in_flight_downloads(site: Site, day: date) -> int:
    """Full-size requests of a past day in flight: dogcli's (the page shows only thumbnails of
    past days; its live section shows today's full-size images)."""
    return sum(
        1 for _m, p in site.replica.in_flight(f"/{day}/") if not p.endswith("-thumbnail.jpeg")
    )


def test_sigkill_at_random_moments_loses_nothing(
    make_site: Any, request: pytest.FixtureRequest
) -> None:
    site: Site = make_site(days=DAYS + 1, api_delay=0.0, cdn_latency=0.2, lazy=False)
    days = [site.day(-i) for i in range(DAYS, 0, -1)]
    for stream in ("in_gate", "out_gate"):
        for day in days:
            specs = site.dataset.captures(stream, day)
            site.dataset[(stream, day)] = specs[:: max(1, len(specs) // PER_DAY)][:PER_DAY]
    streams = ("in_gate", "out_gate")
    expected = expected_bytes(site.replica, streams, days)
    # The killed runs' Chromium profiles land here (a short path: Chromium's socket lives in it).
    scratch = Path(tempfile.mkdtemp(prefix="dogcli-kill-"))
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    env = cli_env(site.env, DOGCLI_BATCH_SIZE="5", DOGCLI_CONCURRENCY="4",
                  DOGCLI_MAX_RETRIES="2", TMPDIR=str(scratch))  # fmt: skip
    rng = random.Random(SEED)
    phases: Counter[str] = Counter()
    fresh = list(days)
    interrupted: list[date] = []
    kills = completed = leftovers = rekilled = 0
    started = time.monotonic()

    while kills < KILLS:
        if interrupted and (not fresh or rng.random() < 0.35):
            day = interrupted.pop(rng.randrange(len(interrupted)))  # a kill after a kill
            again = True
        else:
            day = fresh.pop(0)
            again = False
        before = _dogcli_full_requests(site, day)
        proc = start_cli("backfill", str(day), env=env)
        try:
            if rng.random() < 0.2:
                deadline = time.monotonic() + rng.uniform(0.0, 4.0)  # any moment from the start
            else:  # once its downloads have begun
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and proc.poll() is None:
                    if _in_flight_downloads(site, day) or _dogcli_full_requests(site, day) > before:
                        break
                    time.sleep(0.005)
                deadline = time.monotonic() + rng.uniform(0.0, 1.5)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.005)
            downloading = _in_flight_downloads(site, day)
            finished = proc.poll() is not None
            if not finished:
                os.kill(proc.pid, signal.SIGKILL)
            stderr = proc.communicate()[1].decode(errors="replace")
        finally:
            kill_group(proc)  # its chromedriver and Chromium
        state = archive_state(site.data_dir)
        assert_sound(state, expected)  # right after the kill: no partial file, no lone row
        if finished:  # the run beat the kill: it must have completed its day
            assert proc.returncode == 0, stderr
            day_files = {k for k in expected if f"/{day}/" in k}
            assert day_files <= set(state.files) and day_files <= set(state.rows)
            completed += 1
            continue
        kills += 1
        rekilled += again
        interrupted.append(day)
        leftovers += len(state.temps)
        hit = {
            "download": downloading > 0,
            "write": bool(state.temps),
            "rename": bool(state.journaled_not_placed),
            "catalog": bool(state.uncataloged),
        }
        if not any(hit.values()) and _dogcli_full_requests(site, day) == before:
            hit["start"] = True
        phases.update(name for name, yes in hit.items() if yes)

    # The next run completes the work: everything stored, cataloged, nothing left over.
    final = run_cli("backfill", f"{days[0]}..{days[-1]}", env=env)
    assert final.code == 0, final.err
    state = archive_state(site.data_dir)
    assert_complete(state, expected)
    assert not (site.data_dir / ".pending.jsonl").exists()
    record(
        "sigkill",
        kills=kills,
        kills_of_an_interrupted_day=rekilled,
        kills_by_phase=dict(sorted(phases.items())),
        runs_that_finished_before_their_kill=completed,
        temp_files_left_by_kills=leftovers,
        captures=len(expected),
        stored_and_cataloged_at_end=len(state.rows),
        lost=0,
        seconds=round(time.monotonic() - started, 1),
    )
    # Most kills must have interrupted real work, not only start-up.
    assert phases["download"] + phases["catalog"] + phases["rename"] >= KILLS // 2

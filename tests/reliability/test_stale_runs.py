"""Runs left "running" by a process that died (SIGKILL, or a catalog outage that cut the
journal off) are marked interrupted by the next run, which holds the archive lock: every one
of this host, another host's only once it started a day ago (it may be live on a shared
PostgreSQL). `runs`, `stats` and `health` show them as such; health never as a success."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dogcli.catalog.captures import Catalog
from dogcli.catalog.models import RunRow
from dogcli.catalog.runs import INTERRUPTED_ERROR, Run, RunJournal
from tests.faultkit import cli_env, kill_group, run_cli, start_cli

HOST = socket.gethostname()


def _journal(url: str, **fields: Any) -> int:
    with Catalog(url) as catalog:
        catalog.upgrade()
        run = RunJournal(catalog).start(Run(**fields))
        assert run.id is not None
        return run.id


def _outcomes(url: str) -> dict[int, tuple[str, str, datetime | None]]:
    with Catalog(url) as catalog, catalog.engine.connect() as conn:
        query = select(RunRow.id, RunRow.outcome, RunRow.error, RunRow.finished_at)
        return {
            i: (outcome, error, finished) for i, outcome, error, finished in conn.execute(query)
        }


@pytest.mark.browser
def test_a_killed_run_is_marked_interrupted_by_the_next_run(make_site: Any) -> None:
    site = make_site(days=3, cdn_latency=0.25, dataset_kwargs={"interval": 1200})
    env = cli_env(site.env, DOGCLI_CONCURRENCY="2")
    url = f"sqlite:///{site.data_dir / 'dogcli.db'}"
    days = f"{site.day(-2)}..{site.day(-1)}"
    proc = start_cli("backfill", days, env=env)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            mine = [r for r in site.replica.cdn_requests() if r.agent.startswith("dogcli")]
            if len(mine) >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        kill_group(proc)  # SIGKILL: nothing of dogcli runs after this
    proc.wait(timeout=30)
    killed = _outcomes(url)
    assert [o for o, _e, _f in killed.values()] == ["running"], killed
    (killed_id,) = killed

    site.replica.cdn_latency = 0.0
    again = run_cli("backfill", days, env=env, timeout=300)
    assert again.code == 0, again.err
    assert "marked interrupted" in again.err

    ran = run_cli("runs", "--json", env=env)
    assert ran.code == 0, ran.err
    runs = {r["id"]: r for r in json.loads(ran.out)["runs"]}
    assert runs[killed_id]["outcome"] == "interrupted"
    assert runs[killed_id]["error"] == INTERRUPTED_ERROR
    assert runs[killed_id]["finished_at"] is None  # when it died is not known
    (newer,) = (r for i, r in runs.items() if i != killed_id)
    assert newer["outcome"] == "ok"
    table = run_cli("runs", env=env)
    assert table.code == 0 and "interrupted" in table.out


def test_only_this_hosts_and_day_old_runs_are_marked(
    db_url: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    now = datetime.now(UTC)

    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    ids = {
        # A fetch of this host SIGKILLed 10 minutes ago.
        "mine": _journal(
            db_url, command="fetch", host=HOST, pid=999999, started_at=ago(minutes=10)
        ),
        # Another host sharing the catalog: maybe live now, so left alone...
        "other_live": _journal(db_url, command="backfill", host="other", started_at=ago(hours=1)),
        # ... unless it started more than a day ago: no run lasts that long.
        "other_dead": _journal(db_url, command="fetch", host="other", started_at=ago(hours=25)),
        "done": _journal(
            db_url,
            command="fetch",
            outcome="ok",
            started_at=ago(hours=2),
            finished_at=ago(hours=2, seconds=-5),
        ),
    }

    ran = cli("cleanup")  # any run that journals marks them, here one that needs no site
    assert ran.code == 0, ran.err
    outcomes = _outcomes(db_url)
    assert outcomes[ids["mine"]][:2] == ("interrupted", INTERRUPTED_ERROR)
    assert outcomes[ids["other_live"]][0] == "running"
    assert outcomes[ids["other_dead"]][:2] == ("interrupted", INTERRUPTED_ERROR)
    assert outcomes[ids["done"]][0] == "ok"
    (cleanup_id,) = set(outcomes) - set(ids.values())
    assert outcomes[cleanup_id][0] == "ok"

    ran = cli("runs", "--json")
    shown = {r["id"]: r["outcome"] for r in json.loads(ran.out)["runs"]}
    assert shown[ids["mine"]] == "interrupted" and shown[ids["other_live"]] == "running"

    # The newest fetch that ended is the interrupted one: stats shows it, health warns.
    ran = cli("stats", "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["last_runs"]["fetch"]["outcome"] == "interrupted"
    ran = cli("health", "--json")
    checks = {c["name"]: c for c in json.loads(ran.out)["checks"]}
    assert checks["last_fetch_run"]["status"] == "warning"
    assert checks["last_fetch_run"]["message"].startswith("interrupted at ")
    assert INTERRUPTED_ERROR in checks["last_fetch_run"]["message"]

    # A second run finds nothing left to mark, and the live run of the other host stays.
    assert cli("cleanup").code == 0
    assert _outcomes(db_url)[ids["other_live"]][0] == "running"

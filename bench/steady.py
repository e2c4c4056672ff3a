"""3. Steady state: `dogcli fetch` every 10 minutes, when nothing is new and when 1 image is new.

The data dir already holds yesterday and today (fetched once, untimed), so each timed fetch
reads today's page of both streams and finds everything already there, or one capture that
the replica gained since. Wall time of the whole command; peak RSS of dogcli's own process
(getrusage) and, separately, the peak of the browser's processes (Chromium and its driver,
PSS summed, sampled every 50 ms).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bench.common import (
    STREAMS,
    Config,
    Metric,
    Run,
    Section,
    check_run,
    dogcli_env,
    fresh_dir,
    log,
    replica,
    run_dogcli,
    site_now,
)

TARGET_WALL = 4.0
TARGET_RSS_MB = 120.0
SUMMARY_RE = re.compile(r"fetch: found (\d+), new (\d+)")


def _new_count(run: Run) -> int:
    match = SUMMARY_RE.search(run.out + run.err)
    if not match:
        raise RuntimeError(f"no summary line in dogcli fetch output: {run.out[-300:]!r}")
    return int(match[2])


def _free_ts(rep: object, stream: str, now: datetime, offset: int) -> datetime:
    """A second of today, before now, with no capture yet."""
    day_start = now.replace(hour=0, minute=0, second=0)
    ts = max(day_start + timedelta(seconds=1), now - timedelta(seconds=30 + offset))
    while rep.dataset.find(stream, ts) is not None:  # type: ignore[attr-defined]
        ts += timedelta(seconds=1)
    return ts


def run(cfg: Config) -> Section:
    now = site_now()
    today = now.date()
    days = [today - timedelta(days=1), today]
    sec = Section(
        "steady",
        f"3. Steady-state fetch (yesterday and today archived; page API "
        f"{cfg.api_delay * 1000:.0f} ms, CDN {cfg.latency * 1000:.0f} ms)",
    )
    work = fresh_dir(cfg.workdir, "steady")
    runs: dict[str, list[Run]] = {"nothing new": [], "1 new image": []}
    with replica(cfg, days, now) as rep:
        env = dogcli_env(rep, work / "data")
        check_run(run_dogcli(["fetch", "--max-days", "2"], env, sample=False), "priming fetch")
        for i in range(cfg.repeat):
            result = check_run(run_dogcli(["fetch"], env), "dogcli fetch")
            if _new_count(result) != 0:
                raise RuntimeError(f"steady fetch found new captures: {result.out[-300:]}")
            runs["nothing new"].append(result)
            ts = _free_ts(rep, STREAMS[i % 2], site_now(), i)
            rep.dataset.add(STREAMS[i % 2], ts)
            result = check_run(run_dogcli(["fetch"], env), "dogcli fetch")
            if _new_count(result) != 1:
                raise RuntimeError(f"expected 1 new capture: {result.out[-300:]}")
            runs["1 new image"].append(result)
            log(
                f"steady {i + 1}/{cfg.repeat}: {runs['nothing new'][-1].wall:.2f} s, "
                f"{result.wall:.2f} s"
            )
    for label, items in runs.items():
        sec.add(Metric(f"fetch, {label}: wall", "s", [r.wall for r in items])).check(TARGET_WALL)
        sec.add(
            Metric("  dogcli peak RSS (own process)", "MB", [r.maxrss_mb for r in items])
        ).check(TARGET_RSS_MB)
        sec.add(Metric("  browser peak (Chromium + driver, PSS)", "MB",
                       [r.browser_mb for r in items]))  # fmt: skip
        sec.add(Metric("  dogcli CPU (own process)", "s", [r.cpu for r in items]))
    return sec

"""2. Discovery: seconds per (stream, day) page, from the browser start to the last URL read.

Drives dogcli's own Browser and CameraSite in this process against the replica, in the order a
backfill reads its pages. The floor is the page's own API delay: every page waits for one
History call (the first page of each stream for two: the page loads today's History first).
"""

from __future__ import annotations

import time

from bench.common import (
    SITE_TZ,
    STREAMS,
    Config,
    Metric,
    Section,
    browser_paths,
    log,
    past_days,
    replica,
    site_now,
)

TARGET_BEYOND_API = 1.5


def run(cfg: Config) -> Section:
    from dogcli.config import Settings
    from dogcli.jobs.plan import by_stream
    from dogcli.sources.site.browser import Browser
    from dogcli.sources.site.page import CameraSite

    now = site_now()
    days = past_days(cfg.discovery_days, now.date())
    plan = by_stream([(stream, day) for day in days for stream in STREAMS])
    sec = Section(
        "discovery",
        f"2. Discovery ({len(plan)} pages: {cfg.discovery_days} days x 2 streams, "
        f"page API {cfg.api_delay * 1000:.0f} ms)",
    )
    binary, driver = browser_paths()
    start: list[float] = []
    per_page: list[float] = []  # (browser start .. last URL read) / pages
    page: list[float] = []  # each discover() call alone
    with replica(cfg, days, now) as rep:
        # A local day's page lists captures of two UTC dates: all of them must be found.
        expected = {(s, d): [rep.stamp(c.utc) for c in rep.published(s, d)] for s, d in plan}
        sec.info.update(pages=len(plan), captures=sum(len(v) for v in expected.values()))
        settings = Settings(site_url=rep.site_url, cdn_url=rep.cdn_url, terminal="apm",
                            timezone=SITE_TZ, url_timezone=rep.url_timezone,
                            page_timeout=30.0, max_retries=3, retry_base=0.05)  # fmt: skip
        for i in range(cfg.repeat):
            t0 = time.perf_counter()
            with Browser(binary, driver, settings.page_timeout, settings.timezone) as browser:
                browser.driver  # noqa: B018 - starts Chromium
                start.append(time.perf_counter() - t0)
                site = CameraSite(browser, settings)
                for stream, day in plan:
                    t = time.perf_counter()
                    found = site.discover(stream, day)
                    page.append(time.perf_counter() - t)
                    stamps = sorted(f.capture.url_ts for f in found)
                    if stamps != expected[(stream, day)]:
                        raise RuntimeError(
                            f"discovery of {stream} {day} found {len(found)} captures, "
                            f"{len(set(stamps) & set(expected[(stream, day)]))} of the "
                            f"{len(expected[(stream, day)])} the page lists"
                        )
                per_page.append((time.perf_counter() - t0) / len(plan))
            log(f"discovery {i + 1}/{cfg.repeat}: {per_page[-1]:.2f} s per page")
    sec.add(Metric("per page, browser start included", "s", per_page))
    beyond = sec.add(
        Metric(
            "  beyond the page's API delay",
            "s",
            [p - cfg.api_delay for p in per_page],
        )
    )
    beyond.check(TARGET_BEYOND_API)
    sec.add(Metric("browser start (Chromium + driver)", "s", start))
    sec.add(Metric("one page alone (median over pages)", "s", page))
    sec.info["api_delay_s"] = cfg.api_delay
    return sec

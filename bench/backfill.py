"""1. Backfill throughput: dogcli against aria2c, curl and a one-at-a-time script.

All of them fetch the same images from the same replica at the same concurrency. dogcli's time
is the whole `dogcli backfill` command: start-up, the browser, reading every (stream, day) page
and the downloads; aria2c and curl are handed the finished list of image URLs (the one a perfect
client keeps: full size, else the thumbnail), which a user would first have to get somehow.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path

from bench.common import (
    ROOT,
    Config,
    Metric,
    Section,
    check_run,
    children_cpu,
    count_files,
    dogcli_env,
    fresh_dir,
    kept_urls,
    log,
    missing,
    past_days,
    replica,
    run_dogcli,
    site_now,
    timed,
)

TARGET_VS_ARIA2C = 0.9
TARGET_VS_BASELINE = 6.0
TARGET_CPU_MS = 5.0


def aria2c_cmd(url_file: Path, out: Path, n: int) -> list[str]:
    return [
        "aria2c", "-i", str(url_file), "-d", str(out), "-j", str(n),
        "--max-connection-per-server=1", "--split=1", "--file-allocation=none",
        "--allow-overwrite=true", "--auto-file-renaming=false", "--console-log-level=error",
        "--summary-interval=0", "--download-result=hide", "--quiet=true",
    ]  # fmt: skip


def curl_cmd(config: Path, n: int) -> list[str]:
    return [
        "curl", "--parallel", "--parallel-max", str(n), "--parallel-immediate",
        "--fail", "--silent", "--show-error", "--config", str(config),
    ]  # fmt: skip


def run(cfg: Config) -> Section:
    now = site_now()
    days = past_days(cfg.days, now.date())
    n = cfg.concurrency
    sec = Section(
        "backfill",
        f"1. Backfill throughput ({cfg.days} days x 2 streams, concurrency {n}, "
        f"CDN {cfg.latency * 1000:.0f} ms, page API {cfg.api_delay * 1000:.0f} ms)",
    )
    work = fresh_dir(cfg.workdir, "backfill")
    with replica(cfg, days, now) as rep:
        urls = kept_urls(rep, days)
        images = len(urls)
        step = max(1, images // max(1, cfg.baseline_images))
        sample = urls[::step][: cfg.baseline_images]
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        (work / "sample.txt").write_text("\n".join(sample) + "\n")
        sec.info.update(
            images=images,
            baseline_images=len(sample),
            days=f"{days[0]}..{days[-1]}",
            concurrency=n,
            cdn_latency_s=cfg.latency,
            api_delay_s=cfg.api_delay,
        )
        rate: dict[str, list[float]] = {k: [] for k in ("dogcli", "aria2c", "curl", "baseline")}
        cpu: dict[str, list[float]] = {k: [] for k in ("dogcli", "browser", "aria2c", "curl")}
        phase: list[float] = []
        first_image: list[float] = []
        have = {tool: shutil.which(tool) is not None for tool in ("aria2c", "curl")}
        for i in range(cfg.repeat):
            # dogcli: the real command, fresh data dir and SQLite catalog
            data = fresh_dir(work, "dogcli")
            env = dogcli_env(rep, data / "data")
            rep.reset_stats()
            result = check_run(
                run_dogcli(["backfill", f"{days[0]}..{days[-1]}", "--concurrency", str(n)], env),
                "dogcli backfill",
            )
            got = count_files(data / "data" / "images")
            if got != images:
                raise RuntimeError(f"dogcli backfill stored {got} of {images} images")
            rate["dogcli"].append(got / result.wall)
            cpu["dogcli"].append(result.cpu * 1000 / got)
            cpu["browser"].append(result.browser_cpu * 1000 / got)
            cdn = rep.cdn_requests()
            if cdn:
                span = max(r.end for r in cdn) - min(r.time for r in cdn)
                phase.append(got / span if span > 0 else 0.0)
                first_image.append(min(r.time for r in cdn) - result.started)
                sec.info["dogcli_connections"] = len({r.conn for r in cdn})
                sec.info["dogcli_cdn_requests"] = len(cdn)
                sec.info["dogcli_max_in_flight"] = rep.max_cdn_in_flight
            log(f"backfill {i + 1}/{cfg.repeat}: dogcli {got / result.wall:.1f} img/s")

            if have["aria2c"]:
                out = fresh_dir(work, "aria2c")
                before = children_cpu()
                wall, _ = timed(aria2c_cmd(work / "urls.txt", out, n))
                used = children_cpu() - before
                got = count_files(out, ".jpeg")
                if got != images:
                    raise RuntimeError(f"aria2c stored {got} of {images} images")
                rate["aria2c"].append(got / wall)
                cpu["aria2c"].append(used * 1000 / got)

            if have["curl"]:
                out = fresh_dir(work, "curl")
                config = work / "curl.cfg"
                config.write_text(
                    "".join(f'url = "{u}"\noutput = "{out / u.rsplit("/", 1)[-1]}"\n' for u in urls)
                )
                before = children_cpu()
                wall, _ = timed(curl_cmd(config, n))
                used = children_cpu() - before
                got = count_files(out, ".jpeg")
                if got != images:
                    raise RuntimeError(f"curl stored {got} of {images} images")
                rate["curl"].append(got / wall)
                cpu["curl"].append(used * 1000 / got)

            out = fresh_dir(work, "baseline")
            baseline = [sys.executable, "-m", "bench.baseline", str(work / "sample.txt"), str(out)]
            wall, _ = timed(baseline, cwd=str(ROOT))
            rate["baseline"].append(len(sample) / wall)

    dogcli = sec.add(Metric(f"dogcli backfill -c {n}", "img/s", rate["dogcli"]))
    sec.add(
        Metric(
            "  its download phase (first to last CDN request)",
            "img/s",
            phase,
            note="excludes start-up, the browser and the first page",
        )
    )
    sec.add(
        Metric(
            "  its first image, after the command started",
            "s",
            first_image,
            note="start-up, Chromium, the first page",
        )
    )
    for tool, label in (
        ("aria2c", f"aria2c -j {n} (URL list given)"),
        ("curl", f"curl --parallel-max {n} (URL list given)"),
    ):
        if have[tool]:
            sec.add(Metric(label, "img/s", rate[tool]))
        else:
            sec.add(missing(label, "img/s", f"n/a ({tool} not installed)"))
    sec.add(
        Metric(
            "one at a time, new connection each",
            "img/s",
            rate["baseline"],
            note=f"on {len(sample)} of the images",
        )
    )

    def ratio(name: str, other: str, limit: float | None) -> None:
        if not rate[other] or dogcli.value is None:
            sec.add(missing(f"dogcli / {name}", "x", f"n/a ({other} not measured)"))
            return
        value = dogcli.value / (statistics.median(rate[other]) or 1.0)
        metric = sec.add(Metric(f"dogcli / {name}", "x", value=value))
        if limit is not None:
            metric.check(limit, at_most=False)

    ratio("aria2c", "aria2c", TARGET_VS_ARIA2C)
    ratio("curl", "curl", None)
    ratio("one at a time", "baseline", TARGET_VS_BASELINE)
    sec.add(Metric("dogcli CPU per image (its own process)", "ms", cpu["dogcli"])).check(
        TARGET_CPU_MS
    )
    sec.add(Metric("  browser CPU per image (Chromium + driver)", "ms", cpu["browser"]))
    for tool in ("aria2c", "curl"):
        if have[tool]:
            sec.add(Metric(f"{tool} CPU per image", "ms", cpu[tool]))
    return sec

"""``python -m bench``: run the benchmark sections, print the table, write JSON."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import ROOT, Config, Section
from bench.report import document, loadavg, markdown_table, text_table, write_json

SECTIONS = {
    "backfill": "bench.backfill",
    "discovery": "bench.discovery",
    "steady": "bench.steady",
    "catalog": "bench.catalog",
    "startup": "bench.startup",
}
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure dogcli against the local replica of the site (tests/replica).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="one repetition, 2 days, a 100,000-row catalog (about 2 minutes)",
    )
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from: {', '.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--concurrency", type=int, default=8, help="parallel downloads (default 8)")
    p.add_argument(
        "--latency", type=float, default=50.0, help="milliseconds per CDN request (default 50)"
    )
    p.add_argument(
        "--api-delay",
        type=float,
        default=400.0,
        help="milliseconds per page API call (default 400)",
    )
    p.add_argument("--days", type=int, help="backfill days, 2 streams each (default 7)")
    p.add_argument(
        "--interval",
        type=int,
        help="seconds between captures in the replica (default 600: ~144 a day)",
    )
    p.add_argument("--repeat", type=int, help="repetitions per measurement (default 3)")
    p.add_argument(
        "--baseline-images",
        type=int,
        help="images the one-at-a-time baseline fetches (default 300)",
    )
    p.add_argument("--discovery-days", type=int, help="days x 2 streams to discover (default 4)")
    p.add_argument("--catalog-rows", type=int, help="catalog size (default 1,000,000)")
    p.add_argument(
        "--expired-rows", type=int, help="of which expired, for cleanup (default 100,000)"
    )
    p.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="catalog backends (default sqlite,postgresql)",
    )
    p.add_argument("--startup-runs", type=int, help="runs per start-up command (default 10)")
    p.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help="where to write the results (default bench/results/latest.json)",
    )
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    p.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return p.parse_args(argv)  # fmt: skip


def make_config(args: argparse.Namespace, workdir: Path) -> Config:
    cfg = Config(
        concurrency=args.concurrency,
        latency=args.latency / 1000,
        api_delay=args.api_delay / 1000,
        workdir=workdir,
        quick=args.quick,
        databases=tuple(d for d in args.databases.split(",") if d),
    )
    if args.quick:
        cfg.days, cfg.repeat, cfg.baseline_images = 2, 1, 100
        cfg.discovery_days, cfg.catalog_rows, cfg.expired_rows = 2, 100_000, 10_000
        cfg.startup_runs = 5
    for name in (
        "days", "interval", "repeat", "baseline_images", "discovery_days",
        "catalog_rows", "expired_rows", "startup_runs",
    ):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            setattr(cfg, name, value)
    cfg.expired_rows = min(cfg.expired_rows, cfg.catalog_rows // 2)
    if min(cfg.concurrency, cfg.days, cfg.repeat, cfg.interval, cfg.catalog_rows) < 1:
        raise SystemExit("python -m bench: counts must be at least 1")
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        print(f"python -m bench: unknown section {unknown[0]!r}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dogcli-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = make_config(args, workdir)
    started = time.monotonic()
    load_start = loadavg()
    sections: list[Section] = []
    failed = False
    try:
        for key in chosen:
            print(f"[bench] {key} ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                section: Section = importlib.import_module(SECTIONS[key]).run(cfg)
            except Exception as exc:  # one broken section must not hide the others
                traceback.print_exc()
                section = Section(key, key, error=f"{type(exc).__name__}: {exc}")
                failed = True
            section.info["seconds"] = round(time.monotonic() - t0, 1)
            sections.append(section)
            print(f"[bench] {key} done in {section.info['seconds']} s", file=sys.stderr,
                  flush=True)  # fmt: skip
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.monotonic() - started
    load_end = loadavg()
    print(f"\nload average (1 min) at start {load_start[:1]}, at end {load_end[:1]}; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(text_table(sections), end="")
    if args.markdown:
        print()
        print(markdown_table(sections), end="")
    write_json(args.json, document(cfg, sections, seconds, load_start))
    print(f"\n{len(sections)} sections in {seconds:.0f} s; JSON: {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

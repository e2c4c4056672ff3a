"""Serve a replica until interrupted: ``python -m tests.replica --port 8123 --days 3``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import timedelta
from types import FrameType

from .config import GALLERY_MODES, PAGE_ZONES, ReplicaConfig
from .dataset import DEFAULT_TIMEZONE, make_dataset, site_now
from .replica import Replica
from .vendor import VendorMissing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.replica", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    p.add_argument("--days", type=int, default=3, help="the last N days through today")
    p.add_argument("--api-delay", type=float, default=0.4)
    p.add_argument("--cdn-latency", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--terminal", default="apm")
    p.add_argument("--streams", default="in_gate,out_gate", help="comma-separated")
    p.add_argument("--timezone", default=DEFAULT_TIMEZONE)
    p.add_argument("--url-timezone", default="UTC", help="zone of CDN URL stamps (real: UTC)")
    p.add_argument("--warm", action="store_true", help="render all images before serving")
    p.add_argument("--gallery", choices=GALLERY_MODES, default="window-lazy")
    p.add_argument("--page-size", type=int, default=None, help="paginate the gallery (N a page)")
    p.add_argument("--no-loading-mask", action="store_true", help="no v-loading on the gallery")
    p.add_argument("--heading", default="History", help="History section heading")
    p.add_argument(
        "--no-camera", default="", help="comma-separated streams that show 'No camera found'"
    )
    p.add_argument(
        "--page-zone",
        choices=PAGE_ZONES,
        default="site",
        help="whose zone the page computes a day in: the site's or the browser's",
    )
    args = p.parse_args(argv)

    now = site_now(args.timezone)  # the real clock: the page's today is the site's today
    days = [now.date() - timedelta(days=i) for i in range(max(1, args.days))][::-1]
    ds = make_dataset(
        terminal=args.terminal,
        streams=tuple(s for s in args.streams.split(",") if s),
        days=days,
        now=now,
        seed=args.seed,
        timezone=args.timezone,
    )
    config = ReplicaConfig(
        api_delay=args.api_delay,
        cdn_latency=args.cdn_latency,
        timezone=args.timezone,
        port=args.port,
        host=args.host,
        url_timezone=args.url_timezone,
        gallery=args.gallery,
        page_size=args.page_size,
        loading_mask=not args.no_loading_mask,
        heading=args.heading,
        no_camera=frozenset(s for s in args.no_camera.split(",") if s),
        page_zone=args.page_zone,
    )
    rep = Replica(ds, config)
    if args.warm:
        rep.warm()
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        rep.start()
    except VendorMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = sum(len(v) for v in ds.values())
    print(f"site_url {rep.site_url}", flush=True)
    print(f"cdn_url {rep.cdn_url}", flush=True)
    for stream in ds.streams:
        print(f"page {rep.page_url(stream)}", flush=True)
    print(f"days {days[0]}..{days[-1]}, {n} captures; Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        rep.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

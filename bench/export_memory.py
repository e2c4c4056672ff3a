"""Peak memory of `dogcli export` on a large catalog (README, "Export").

    python -m bench.export_memory [--rows 200000] [--database-url URL]

Fills a catalog through Catalog.insert (a SQLite file in a temporary data dir unless a
PostgreSQL URL is given; its tables must be empty), then runs `dogcli export` in a child
process per format and prints each one's peak RSS (os.wait4's ru_maxrss) and time."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dogcli.catalog.captures import Catalog
from dogcli.config import sqlite_url
from dogcli.storage.base import StoredFile


def fill(url: str, rows: int) -> None:
    catalog = Catalog(url)
    catalog.upgrade()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC).isoformat()

    def records(first: int, last: int) -> list[StoredFile]:
        out = []
        for i in range(first, last):
            stream = "in_gate" if i % 2 else "out_gate"
            ts = (start + timedelta(seconds=30 * i)).strftime("%Y-%m-%dT%H:%M:%S")
            name = f"{stream}_{ts.replace('-', '').replace(':', '')}Z.jpg"
            path = f"images/apm/{stream}/{ts[:10]}/{name}"
            out.append(StoredFile("apm", stream, ts, "full", path, 150_000 + i % 997,
                                  f"{i:064x}", f"https://cdn/{i}", now))  # fmt: skip
        return out

    for first in range(0, rows, 20_000):
        catalog.insert(records(first, min(rows, first + 20_000)), ZoneInfo("UTC"), 1000)
    catalog.close()


def measure(env: dict[str, str], fmt: str, out: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one export."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dogcli", "-q", "export", "--format", fmt, "--output", str(out)],
        env=env,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"export --format {fmt} exited {proc.returncode}")
    return usage.ru_maxrss / 1024, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export_memory")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        url = args.database_url or sqlite_url(data / "dogcli.db")
        began = time.monotonic()
        fill(url, args.rows)
        print(f"catalog: {args.rows} rows in {time.monotonic() - began:.1f}s ({url.split(':')[0]})")
        env = {**os.environ, "DOGCLI_DATA_DIR": str(data), "DOGCLI_DATABASE_URL": url}
        for fmt in ("csv", "jsonl", "parquet"):
            out = Path(tmp) / f"export.{fmt}"
            rss, seconds = measure(env, fmt, out)
            size = out.stat().st_size / 1048576
            print(f"{fmt:8} peak RSS {rss:6.1f} MiB  {seconds:5.1f}s  file {size:6.1f} MiB")


if __name__ == "__main__":
    main()

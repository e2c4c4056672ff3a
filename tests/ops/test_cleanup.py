"""cleanup: retention by local day, crash-safe, and the disk limit."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dogcli.archive.session import Archive
from dogcli.config import load_settings
from dogcli.jobs.cleanup import run_cleanup
from tests.archivekit import (
    ROOT,
    TZ,
    capture_at,
    jpeg,
    populate,
    rows,
    site_now,
    stamp,
)


def test_cleanup_deletes_exactly_what_is_older_than_the_retention(
    archive: dict[str, Any], cli: Any
) -> None:
    now = site_now()
    today = now.date()
    moments = [
        datetime.combine(today - timedelta(days=d), datetime.min.time()) + timedelta(hours=h)
        for d in range(0, 8)
        for h in (0, 11, 23)
        if datetime.combine(today - timedelta(days=d), datetime.min.time()) + timedelta(hours=h)
        <= now
    ]
    populate(archive["dir"], archive["url"], moments)
    cutoff = today - timedelta(days=3)
    expired = [m for m in moments if m.date() < cutoff]
    kept = [m for m in moments if m.date() >= cutoff]
    size = len(jpeg("x"))

    dry = cli("cleanup", "--retention-days", "3", "--dry-run")
    assert dry.code == 0, dry.err
    assert f"would delete {len(expired)} captures" in dry.out
    assert len(rows(archive["url"])) == len(moments)

    ran = cli("cleanup", "--retention-days", "3")
    assert ran.code == 0, ran.err
    assert f"deleted {len(expired)} captures ({len(expired) * size / 1048576:.1f} MiB)" in ran.out
    left = sorted(r["url_ts"] for r in rows(archive["url"]))
    assert left == sorted(stamp(m) for m in kept)
    folders = sorted(p.name for p in (archive["dir"] / "images/apm/in_gate").iterdir())
    assert folders == sorted({f"{m:%Y-%m-%d}" for m in kept})
    run = rows(archive["url"], "runs")[-1]
    assert (run["command"], run["outcome"], run["deleted"]) == ("cleanup", "ok", len(expired))
    again = cli("cleanup", "--retention-days", "3")
    assert "deleted 0 captures" in again.out


CRASHER = """
import os, sys
from dogcli.catalog import captures as store
from dogcli.cli.app import main
calls = {"n": 0}
real = store.Catalog.delete_ids
def crash_on_second(self, ids):
    calls["n"] += 1
    if calls["n"] == 2:
        os._exit(9)  # the process dies after deleting a batch of files, before their rows
    return real(self, ids)
store.Catalog.delete_ids = crash_on_second
import dogcli.jobs.cleanup as cleanup
cleanup.BATCH = 5
main(["cleanup", "--retention-days", "2"])
"""


def test_a_crash_in_the_middle_of_cleanup_loses_nothing_and_the_next_run_finishes(
    archive: dict[str, Any], cli: Any
) -> None:
    now = site_now()
    old_day = now.date() - timedelta(days=10)
    old = [datetime.combine(old_day, datetime.min.time()) + timedelta(minutes=10 * i)
           for i in range(23)]  # fmt: skip
    recent = [now - timedelta(minutes=10 * i) for i in range(1, 6)]
    populate(archive["dir"], archive["url"], old + recent)
    proc = subprocess.run([sys.executable, "-c", CRASHER], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 9, proc.stderr
    # Mid-crash: the first batch is fully gone; the second batch's files are gone but its rows
    # remain (all expired); nothing inside the retention was touched.
    left = rows(archive["url"])
    assert len(left) == len(old) - 5 + len(recent)
    for moment in recent:
        assert (archive["dir"] / capture_at(moment).rel_path).is_file()
    ran = cli("cleanup", "--retention-days", "2")
    assert ran.code == 0, ran.err
    assert sorted(r["url_ts"] for r in rows(archive["url"])) == sorted(stamp(m) for m in recent)
    assert not (archive["dir"] / f"images/apm/in_gate/{old_day}").exists()


def test_max_disk_percent_deletes_oldest_but_never_the_last_24_hours(
    archive: dict[str, Any],
) -> None:
    now = datetime.now(UTC)
    local = now.astimezone(TZ).replace(tzinfo=None, microsecond=0)
    moments = [local - timedelta(hours=h) for h in (1, 5, 20, 30, 40, 50, 60)]
    populate(archive["dir"], archive["url"], moments)
    settings = load_settings({"data_dir": archive["dir"]})

    size = len(jpeg("x"))

    def fake_usage(_path: Path) -> tuple[int, int]:  # a disk this full cannot be made real here
        files = list((archive["dir"] / "images").rglob("*.jpg"))
        return 5 * size + sum(f.stat().st_size for f in files), 10 * size

    with Archive.open(settings) as session:
        result = run_cleanup(session, "apm", retention_days=30, max_disk_percent=95,
                             now=now, disk_usage=fake_usage)  # fmt: skip
    # 7 files = 120 %: the oldest go until 90 % (4 files); only captures older than 24 h may go.
    left = sorted(r["url_ts"] for r in rows(archive["url"]))
    assert left == sorted(stamp(m) for m in moments[:4])
    assert result.deleted == 3 and result.disk_percent_after == pytest.approx(90.0)

    with Archive.open(settings) as session:
        result = run_cleanup(session, "apm", retention_days=30, max_disk_percent=60,
                             now=now, disk_usage=fake_usage)  # fmt: skip
    # Still over 60 %, but what is left is the last 24 hours (and the 30 h one goes).
    left = sorted(r["url_ts"] for r in rows(archive["url"]))
    assert left == sorted(stamp(m) for m in moments[:3])

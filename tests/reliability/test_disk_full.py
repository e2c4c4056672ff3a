"""A full disk (ENOSPC) while writing images: the run stops with one clear line and exit 1,
leaves no partial file, catalogs only what was written, and the next run (once there is room)
completes the work.

The disk is real: a 192 KiB tmpfs mounted as the data dir (we run as root in CI). Where mount
is not permitted, os.write is made to fail with ENOSPC after the same budget instead.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.faultkit import archive_state, assert_complete, assert_sound, expected_bytes, record

pytestmark = pytest.mark.browser

SIZE = 192 * 1024


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, bool]]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
    ).returncode == 0  # fmt: skip
    if not mounted:  # a mock only for what cannot be made real here
        real_write = os.write
        budget = {"left": SIZE}

        def write(fd: int, data: Any) -> int:
            if budget["left"] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written = real_write(fd, bytes(data)[: budget["left"]])
            budget["left"] -= written
            return written

        monkeypatch.setattr("dogcli.storage.local.os.write", write)
    try:
        yield mount_point, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_disk_full_stops_cleanly_and_loses_nothing(
    make_site: Any,
    cli: Any,
    small_disk: tuple[Path, bool],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disk, real = small_disk
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"  # the catalog lives elsewhere
    site = make_site(days=2, database_url=catalog, api_delay=0.0, gallery="eager")
    data_dir = disk / "data"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    day = site.day(-1)
    expected = expected_bytes(site.replica, ("in_gate",), [day])
    assert sum(len(d) for d in expected.values()) > 2 * SIZE  # the day cannot fit
    # One local day, URLs of two UTC dates, every file in the local day's folder.
    assert {rel.rsplit("_", 1)[1][:8] for rel in expected} == {
        f"{day:%Y%m%d}",
        f"{day + timedelta(days=1):%Y%m%d}",
    }
    assert all(rel.startswith(f"images/apm/in_gate/{day}/") for rel in expected)

    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 1, ran.out + ran.err
    errors = [line for line in ran.err.splitlines() if line.startswith("dogcli: error:")]
    assert len(errors) == 1 and "disk full" in errors[0], ran.err
    assert "Traceback" not in ran.err
    state = archive_state(data_dir, catalog)
    assert state.temps == []  # no partial file
    assert_sound(state, expected)  # every file complete; no row without its file
    assert 0 < len(state.files) < len(expected)
    written = len(state.files)
    cataloged = len(state.rows)

    if real:
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
    else:
        monkeypatch.undo()
        monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
        for key, value in site.env.items():
            if key != "DOGCLI_DATA_DIR":
                monkeypatch.setenv(key, value)
    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 0, ran.err
    assert_complete(archive_state(data_dir, catalog), expected)
    record("disk_full", real_tmpfs=real, disk_bytes=SIZE, images_of_the_day=len(expected),
           written_before_full=written, cataloged_before_full=cataloged, partial_files=0,
           rows_without_file=0, complete_after_room=True)  # fmt: skip

"""Helpers of the reliability suite: the real CLI as a subprocess, archive invariants, and the
figures the suite measures (written to ``{pytest basetemp}/reliability.json`` and printed at the
end of the session)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, inspect, text

from dogcli.model.captures import Zones, capture_from_path
from dogcli.storage.base import is_jpeg
from dogcli.storage.local import TMP_PREFIX

ROOT = Path(__file__).resolve().parent.parent
SITE_ZONE = ZoneInfo("America/Los_Angeles")
# dogcli's defaults, and the replica's: local days of the site, URL stamps in UTC.
ZONES = Zones(SITE_ZONE, ZoneInfo("UTC"))
_FIGURES: dict[str, Any] = {}
_FIGURES_LOCK = threading.Lock()
_figures_path: Path | None = None


# -- figures ----------------------------------------------------------------------------------


def record(section: str, **values: Any) -> None:
    """Merge measured numbers into the session's figures (and the JSON file)."""
    with _FIGURES_LOCK:
        _FIGURES.setdefault(section, {}).update(values)
        if _figures_path is not None:
            _figures_path.write_text(json.dumps(_FIGURES, indent=2, sort_keys=True, default=str))


@pytest.fixture(scope="session", autouse=True)
def reliability_figures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    global _figures_path
    _figures_path = tmp_path_factory.getbasetemp() / "reliability.json"
    yield _FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for section, values in sorted(_FIGURES.items()):
        terminalreporter.write_line(f"{section}: {json.dumps(values, sort_keys=True, default=str)}")
    if _figures_path is not None:
        terminalreporter.write_line(f"(also in {_figures_path})")


# -- the CLI as a real process -------------------------------------------------------------------


def cli_env(env: dict[str, str], **more: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("DOGCLI_")}
    out.update(env)
    out.update(more)
    out["PYTHONPATH"] = str(ROOT)
    return out


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dogcli", *args]


@dataclass
class Proc:
    code: int
    out: str
    err: str
    max_rss_kib: int = 0


def run_cli(*args: str, env: dict[str, str], timeout: float = 120, cwd: Path | None = None) -> Proc:
    """Run dogcli in its own process group; its browser goes with it whatever happens."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            cli_command(*args), env=env, stdout=out, stderr=err, cwd=cwd, start_new_session=True
        )
        try:
            rss = peak_rss_kib(proc, timeout)
        finally:
            kill_group(proc)
        out.seek(0)
        err.seek(0)
        return Proc(proc.returncode, out.read(), err.read(), rss)


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cli_command(*args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def peak_rss_kib(proc: subprocess.Popen[Any], timeout: float) -> int:
    """Wait for proc while sampling its own peak resident memory (VmHWM, KiB): the Python
    process alone, not its browser."""
    peak = 0
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        if time.monotonic() > deadline:
            kill_group(proc)
        time.sleep(0.02)
    return peak


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group we started (dogcli, chromedriver, Chromium)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# -- the archive --------------------------------------------------------------------------------


def zones_of(replica: Any) -> Zones:
    """The replica's time model as dogcli's Zones (site days, URL stamps)."""
    return Zones(ZoneInfo(replica.timezone), ZoneInfo(replica.url_timezone))


def rel_path_of(replica: Any, stream: str, url_ts: str) -> str:
    """Where dogcli keeps the capture with this URL stamp:
    ``images/apm/{stream}/{local day}/{stream}_{UTC time}Z.jpg``."""
    return zones_of(replica).capture(replica.dataset.terminal, stream, url_ts).rel_path


def expected_bytes(replica: Any, streams: tuple[str, ...], days: list[date]) -> dict[str, bytes]:
    """relative path -> the bytes a perfect client keeps, for every capture of those local
    days (each in the folder of its local day, named after its UTC time)."""
    zones = zones_of(replica)
    out: dict[str, bytes] = {}
    for stream in streams:
        for day in days:
            for ts, _variant, data in replica.expected(stream, day):
                capture = zones.capture(replica.dataset.terminal, stream, ts)
                assert capture.day == day, (ts, day)  # the page's day is the local day
                out[capture.rel_path] = data
    return out


def rows_of(url: str, zones: Zones = ZONES) -> dict[str, tuple[int, str]]:
    """path -> (bytes, sha256) of every catalog row; fails on duplicate identities, and on a
    row whose path, URL stamp and UTC capture time disagree."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            columns = "terminal, stream, url_ts, captured_at, path, bytes, sha256"
            rows = conn.execute(text(f"select {columns} from captures")).all()
    finally:
        engine.dispose()
    identities = [(r[0], r[1], r[2]) for r in rows]
    assert len(identities) == len(set(identities)), "duplicate catalog rows"
    for terminal, stream, url_ts, captured_at, path, _size, _sha in rows:
        capture = zones.capture(terminal, stream, url_ts)
        assert path == capture.rel_path, (url_ts, path)
        assert _utc(captured_at) == capture.taken, (url_ts, captured_at)
    return {r[4]: (int(r[5]), r[6]) for r in rows}


def _utc(value: Any) -> datetime:
    """A catalog timestamp as an aware UTC datetime (SQLite hands back naive UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def has_captures_table(url: str) -> bool:
    """False before the first migration (a run killed at its very start)."""
    engine = create_engine(url)
    try:
        return inspect(engine).has_table("captures")
    finally:
        engine.dispose()


@dataclass
class ArchiveState:
    files: dict[str, bytes] = field(default_factory=dict)  # final image files
    temps: list[str] = field(default_factory=list)  # temporary leftovers
    rows: dict[str, tuple[int, str]] = field(default_factory=dict)
    journaled: set[str] = field(default_factory=set)  # paths named in .pending.jsonl

    @property
    def uncataloged(self) -> set[str]:
        return set(self.files) - set(self.rows)

    @property
    def journaled_not_placed(self) -> set[str]:
        return self.journaled - set(self.files)


def archive_state(data_dir: Path, db_url: str | None = None, zones: Zones = ZONES) -> ArchiveState:
    state = ArchiveState()
    images = data_dir / "images"
    if images.is_dir():
        for path in sorted(images.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(data_dir).as_posix()
            if path.name.startswith(TMP_PREFIX):
                state.temps.append(rel)
            else:
                state.files[rel] = path.read_bytes()
    url = db_url or f"sqlite:///{data_dir / 'dogcli.db'}"
    if (db_url or (data_dir / "dogcli.db").exists()) and has_captures_table(url):
        state.rows = rows_of(url, zones)
    pending = data_dir / ".pending.jsonl"
    if pending.exists():
        for line in pending.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                state.journaled.add(json.loads(line)["path"])
    return state


def assert_sound(state: ArchiveState, expected: dict[str, bytes], zones: Zones = ZONES) -> None:
    """The invariants that hold at every moment, even right after a SIGKILL: every image file
    is complete and equal to what the CDN serves, named after its UTC time in the folder of its
    local day, and every row has its file, size and hash."""
    for rel, data in state.files.items():
        assert rel in expected, f"unexpected file {rel}"
        assert is_jpeg(data), f"{rel} is not a complete JPEG"
        assert data == expected[rel], f"{rel} differs from the CDN's bytes"
        stream = rel.split("/")[2]
        parsed = capture_from_path("apm", stream, rel.rsplit("/", 1)[-1], zones)
        assert parsed is not None and not parsed[1], f"{rel}: not a name of the UTC layout"
        assert parsed[0].rel_path == rel, f"{rel}: not in the folder of its local day"
    for rel, (size, sha) in state.rows.items():
        assert rel in state.files, f"catalog row without its file: {rel}"
        data = state.files[rel]
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha), rel


def assert_complete(state: ArchiveState, expected: dict[str, bytes]) -> None:
    """Everything stored, cataloged, nothing left over."""
    assert_sound(state, expected)
    assert sorted(state.files) == sorted(expected)
    assert sorted(state.rows) == sorted(expected)
    assert state.temps == []

"""The browser's processes: reading /proc, the {DATA_DIR}/.browser-pids records, reaping what
runs that are over left behind, and the parent-death signal (prctl) for chromedriver.

A run killed outright (OOM killer, a cron `timeout`, kill -9) runs no cleanup of its own, so
its browser must go without it:
- chromedriver gets a parent-death signal (Linux prctl PR_SET_PDEATHSIG, SIGKILL): the kernel
  kills it when the thread that started it ends, and so when dogcli ends, however;
- Chromium talks to chromedriver over a pipe (--remote-debugging-pipe) and quits as soon as
  the pipe closes, that is when chromedriver is gone (its other processes go with it);
- what is left all the same (a browser too stuck to notice) the next run reaps: each run
  records its driver and profile in {DATA_DIR}/.browser-pids; a record whose run is over is
  settled by SIGKILL of the processes it names that still are chromedriver (same pid and start
  time) or use its profile (`--user-data-dir=` of a dogcli-chromium- temporary directory),
  nothing else; and the profiles of runs that are over are removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROFILE_PREFIX = "dogcli-chromium-"
PIDS_NAME = ".browser-pids"
PR_SET_PDEATHSIG = 1
LEGACY_PROFILE_AGE = 3600.0  # s: a profile named without its owner, unused for so long, is left


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # clock ticks after boot: with the pid, names one process for good
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ""

    @property
    def profile(self) -> str | None:
        for arg in self.argv:
            if arg.startswith("--user-data-dir="):
                return arg.split("=", 1)[1]
        return None


def read_proc(pid: int) -> Proc | None:
    """A live process of ours (same user), or None: gone, a zombie or not ours to see."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        if os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return None
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    args = [arg for arg in raw.split(b"\0") if arg]
    if len(args) == 1:  # Chromium's child processes retitle themselves: one line, spaces
        args = args[0].split(b" ")
    return Proc(pid, int(fields[19]), tuple(arg.decode(errors="replace") for arg in args))


def processes() -> list[Proc]:
    """Every live process of ours."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    return [p for e in entries if e.isdigit() and (p := read_proc(int(e))) is not None]


def _alive(pid: int, start: int) -> bool:
    p = read_proc(pid)
    return p is not None and p.start == start


def this_run() -> tuple[int, int]:
    """This process as (pid, start time): the owner written into records and profile names."""
    p = read_proc(os.getpid())
    return os.getpid(), p.start if p else 0


def _is_driver(p: Proc) -> bool:
    return "chromedriver" in p.name


def is_chromium(p: Proc) -> bool:
    return "chrom" in p.name.lower() and not _is_driver(p)


def _profile_owner(path: str) -> tuple[int, int] | None:
    """The run (pid, start time) a profile directory was made for, from its name."""
    rest = os.path.basename(path).removeprefix(PROFILE_PREFIX).split("-")
    if len(rest) >= 3 and rest[0].isdigit() and rest[1].isdigit():
        return int(rest[0]), int(rest[1])
    return None


def _is_profile(path: str) -> bool:
    return os.path.basename(path).startswith(PROFILE_PREFIX)


def kill_tree(driver: tuple[int, int] | None, profile: str | None, procs: list[Proc]) -> int:
    """SIGKILL what is left of one browser: its chromedriver (the same process: pid and start
    time) and the Chromium processes on its profile. Returns how many were killed."""
    killed = 0
    for p in procs:
        ours = driver is not None and (p.pid, p.start) == tuple(driver) and _is_driver(p)
        if not ours and profile and _is_profile(profile):
            ours = is_chromium(p) and p.profile == profile
        if ours:
            try:
                os.kill(p.pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def wait_unused(profile: str, timeout: float = 3.0) -> None:
    """Until no process of ours runs on this profile (killed ones take a moment to go)."""
    deadline = time.monotonic() + timeout
    while any(p.profile == profile for p in processes()) and time.monotonic() < deadline:
        time.sleep(0.02)


class PidFile:
    """{DATA_DIR}/.browser-pids: one JSON line per browser of a run, while it runs:
    {"owner": [pid, start], "driver": [pid, start], "profile": path, "browser": [[pid, start]]}.
    Runs that write are serialized by the data dir's lock; the file is replaced whole."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PIDS_NAME

    def read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text()
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        tmp = self.path.with_name(f"{PIDS_NAME}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, self.path)

    def put(self, record: dict[str, Any]) -> None:
        keep = [r for r in self.read() if r.get("profile") != record["profile"]]
        self.write([*keep, record])

    def drop(self, profile: str) -> None:
        records = self.read()
        keep = [r for r in records if r.get("profile") != profile]
        if keep != records:
            self.write(keep)


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    return None


def reap_browsers(data_dir: Path | None) -> int:
    """Kill what is left of the browsers of runs that are over (recorded in `data_dir`), and
    remove the profiles of runs that are over; never a process or profile of a live run, nor a
    browser that is not dogcli's. Returns how many processes were killed. Best effort."""
    procs = processes()
    killed = 0
    if data_dir is not None:
        pids = PidFile(data_dir)
        records = pids.read()
        keep = []
        for r in records:
            owner = _pair(r.get("owner"))
            if owner is not None and _alive(*owner):
                keep.append(r)  # a run still going (another command on this data dir)
                continue
            profile = r.get("profile") if isinstance(r.get("profile"), str) else None
            killed += kill_tree(_pair(r.get("driver")), profile, procs)
            if profile and _is_profile(profile):
                wait_unused(profile)  # a dying process writes no more into it
                shutil.rmtree(profile, ignore_errors=True)
        if keep != records:
            pids.write(keep)
        if killed:
            log.info("stopped %d browser processes left by an earlier run", killed)
            procs = processes()
    in_use = {p.profile for p in procs if p.profile}
    tmp = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for path in tmp.glob(PROFILE_PREFIX + "*"):
            with contextlib.suppress(OSError):
                st = path.lstat()
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or str(path) in in_use:
                    continue
                owner = _profile_owner(str(path))
                if owner is not None and _alive(*owner):
                    continue
                if owner is None and time.time() - st.st_mtime < LEGACY_PROFILE_AGE:
                    continue  # from a dogcli that did not name its profiles: maybe starting
                shutil.rmtree(path, ignore_errors=True)
                log.debug("removed the browser profile %s of a run that is over", path)
    return killed


@functools.cache
def _prctl() -> Any:
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn: the child is SIGKILLed when the thread that started it ends (Linux; the
    kernel's "parent" is that thread, not the process). None where there is no prctl."""
    prctl = _prctl() if sys.platform.startswith("linux") else None
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:  # in the child, between fork and exec: no imports, no locks
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was asked for
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec

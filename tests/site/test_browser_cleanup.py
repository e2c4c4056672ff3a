"""A killed dogcli leaves no browser: SIGKILL the real CLI (as the OOM killer, a cron
`timeout` or a hand would) once its Chromium is up, and its chromedriver and every Chromium
process die within seconds, with nothing left to them; what a frozen browser could not do on
its own the next run reaps; and no browser that is not dogcli's is ever touched.

Processes are told from outside, through /proc: a run's processes are its descendants seen
while it ran (pid and start time, so that a reused pid is not mistaken for one of them) and
any process whose `--user-data-dir=` is one of that run's profiles.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Site
from tests.faultkit import cli_env, kill_group, record, run_cli, start_cli

pytestmark = pytest.mark.browser

KILLS = 4
GONE_WITHIN = 10.0  # s after the kill: the driver and every Chromium process are gone
UP_WITHIN = 60.0  # s for a run's Chromium to be up and have asked for its page (busy machine)


# -- processes, from /proc ------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # clock ticks after boot: with the pid, one process for good
    state: str
    rss_kib: int
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
    """The process, or None once it is gone (a zombie is gone: it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    rss_pages = int(fields[21])
    args = [a for a in raw.split(b"\0") if a]
    if len(args) == 1:  # Chromium's child processes retitle themselves: one line, spaces
        args = args[0].split(b" ")
    argv = tuple(a.decode(errors="replace") for a in args)
    return Proc(
        pid,
        int(fields[1]),
        int(fields[19]),
        fields[0],
        rss_pages * os.sysconf("SC_PAGE_SIZE") // 1024,
        argv,
    )


def all_procs() -> list[Proc]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (p := read_proc(int(entry))) is not None:
            out.append(p)
    return out


def descendants(root: int, procs: list[Proc]) -> list[Proc]:
    children: dict[int, list[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    out: list[Proc] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child.pid)
    return out


def is_browser(p: Proc) -> bool:
    return "chrom" in p.name


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return check()
        time.sleep(0.05)
    return True


@dataclass
class Run:
    """One dogcli run as seen from outside: its browser processes and profiles."""

    proc: subprocess.Popen[bytes]
    seen: dict[tuple[int, int], Proc] = field(default_factory=dict)
    profiles: set[str] = field(default_factory=set)

    def look(self) -> None:
        for p in descendants(self.proc.pid, all_procs()):
            if is_browser(p):
                self.seen[(p.pid, p.start)] = p
                if p.profile:
                    self.profiles.add(p.profile)

    def alive(self) -> list[Proc]:
        """Its processes still running: any seen one (same pid and start time), and any
        process using one of its profiles (forked after the last look)."""
        out = {}
        for p in all_procs():
            if (p.pid, p.start) in self.seen or (p.profile and p.profile in self.profiles):
                out[(p.pid, p.start)] = p
        return list(out.values())

    def driver_seen(self) -> bool:
        return any(p.name == "chromedriver" for p in self.seen.values())

    def chromium_seen(self) -> bool:
        return any(p.profile for p in self.seen.values())

    def kill_leftovers(self) -> None:
        """The test's own safety net: nothing of this run outlives the test."""
        kill_group(self.proc)
        for p in self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)


def history_requests(site: Site) -> int:
    return len(site.replica.api_requests("history"))


def start_and_wait_for_browser(site: Site, env: dict[str, str], day: str) -> Run:
    """Start `dogcli backfill DAY` and return once its Chromium is up: the replica has answered
    the page's own API call, and the run's chromedriver and Chromium are seen."""
    before = history_requests(site)
    run = Run(start_cli("backfill", day, env=env))

    def up() -> bool:
        if run.proc.poll() is not None:
            return True
        run.look()
        return history_requests(site) > before and run.driver_seen() and run.chromium_seen()

    assert wait_until(up, UP_WITHIN), "the run's Chromium did not come up"
    assert run.proc.poll() is None, run.proc.communicate()[1].decode(errors="replace")[-2000:]
    run.look()
    return run


def profile_dirs() -> set[str]:
    return {str(p) for p in Path(tempfile.gettempdir()).glob("dogcli-chromium-*")}


# -- the tests ------------------------------------------------------------------------------


def test_sigkilled_runs_leave_no_browser(make_site: Callable[..., Site]) -> None:
    site = make_site(days=KILLS + 2, api_delay=0.3)
    env = cli_env(site.env)
    runs: list[Run] = []
    left: list[list[Proc]] = []
    gone_after: list[float] = []
    try:
        for i in range(KILLS):
            day = str(site.day(-(KILLS + 1) + i))
            run = start_and_wait_for_browser(site, env, day)
            runs.append(run)
            os.kill(run.proc.pid, signal.SIGKILL)  # dogcli alone, as the OOM killer does
            run.proc.communicate()
            killed = time.monotonic()
            wait_until(lambda run=run: not run.alive(), GONE_WITHIN)  # type: ignore[misc]
            still = run.alive()
            left.append(still)
            gone_after.append(time.monotonic() - killed)
            if still:
                print(
                    f"kill {i + 1}: {len(still)} processes alive "
                    f"{time.monotonic() - killed:.1f} s later, "
                    f"{sum(p.rss_kib for p in still) // 1024} MiB RSS: "
                    f"{sorted({p.name for p in still})}"
                )
        counts = [len(s) for s in left]
        assert counts == [0] * KILLS, (
            f"processes of each killed run alive {GONE_WITHIN:.0f} s after its kill: {counts}; "
            f"{sum(p.rss_kib for s in left for p in s) // 1024} MiB RSS"
        )
        assert all(r.driver_seen() and r.chromium_seen() for r in runs)
        record(
            "browser after SIGKILL",
            kills=KILLS,
            processes_per_run=[len(r.seen) for r in runs],
            left_after_10s=counts,
            gone_within_s=round(max(gone_after), 2),
        )

        # The next run leaves no profile behind: neither the killed runs' nor its own.
        killed_profiles = set().union(*(r.profiles for r in runs))
        assert killed_profiles and all(p.startswith(tempfile.gettempdir()) for p in killed_profiles)
        proc = start_cli("backfill", str(site.day(-1)), env=env)
        try:
            err = proc.communicate(timeout=300)[1].decode(errors="replace")
        finally:
            kill_group(proc)
        assert proc.returncode == 0, err[-2000:]
        assert not killed_profiles & profile_dirs(), "profiles of the killed runs are left"
        # Its own profile too (profiles are named after the run's pid: other runs on this
        # machine may have theirs in the same temporary directory).
        assert not {p for p in profile_dirs() if f"-chromium-{proc.pid}-" in p}
        pids = site.data_dir / ".browser-pids"
        assert not pids.exists() or not pids.read_text().strip(), pids.read_text()
    finally:
        for run in runs:
            run.kill_leftovers()


def test_a_frozen_browser_is_reaped_by_the_next_run(make_site: Callable[..., Site]) -> None:
    """A browser that cannot notice its driver died (frozen with SIGSTOP before dogcli is
    killed) outlives the kill; the next run kills it and removes its profile."""
    site = make_site(days=3, api_delay=0.3)
    env = cli_env(site.env)
    run = start_and_wait_for_browser(site, env, str(site.day(-2)))
    try:
        chromium = [p for p in run.seen.values() if p.profile]
        assert chromium
        for p in chromium:
            with contextlib.suppress(ProcessLookupError):  # a helper process that is over
                os.kill(p.pid, signal.SIGSTOP)
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.communicate()
        # The driver still dies with dogcli (a stopped process dies of SIGKILL too)...
        assert wait_until(
            lambda: not any(p.name == "chromedriver" for p in run.alive()), GONE_WITHIN
        ), [p.name for p in run.alive()]
        frozen = run.alive()
        assert frozen and all(is_browser(p) for p in frozen)  # ...and the frozen ones stay
        assert run.profiles <= profile_dirs()
        done = run_cli("backfill", str(site.day(-1)), env=env)
        assert done.code == 0, done.err[-2000:]
        assert "browser processes left by an earlier run" in done.err, done.err[-2000:]
        assert wait_until(lambda: not run.alive(), GONE_WITHIN), [p.pid for p in run.alive()]
        assert not run.profiles & profile_dirs()
    finally:
        run.kill_leftovers()


@contextlib.contextmanager
def foreign_chromium(binary: str, profile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A headless Chromium that is not dogcli's, with its own profile, in its own session."""
    args = [binary, "--headless=new", "--disable-gpu", f"--user-data-dir={profile}"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    proc = subprocess.Popen(
        [*args, "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        kill_group(proc)
        proc.wait()


def test_a_browser_that_is_not_ours_is_never_killed(
    make_site: Callable[..., Site], chromium: tuple[str, str], tmp_path: Path
) -> None:
    site = make_site(days=3, api_delay=0.05)
    env = cli_env(site.env)
    me = read_proc(os.getpid())
    assert me is not None
    # One profile anywhere, one named like dogcli's but held by a live process (this test),
    # one in dogcli's old naming (no owner in the name) but in use.
    plain = tmp_path / "someone-elses-profile"
    plain.mkdir()
    named = Path(tempfile.mkdtemp(prefix=f"dogcli-chromium-{os.getpid()}-{me.start}-"))
    legacy = Path(tempfile.mkdtemp(prefix="dogcli-chromium-"))
    try:
        with (
            foreign_chromium(chromium[0], plain) as a,
            foreign_chromium(chromium[0], named) as b,
            foreign_chromium(chromium[0], legacy) as c,
        ):
            foreign = [a, b, c]

            def browsers() -> list[Proc]:
                return [
                    p
                    for f in foreign
                    for p in [read_proc(f.pid), *descendants(f.pid, all_procs())]
                    if p is not None and is_browser(p)
                ]

            assert wait_until(lambda: len({p.profile for p in browsers()}) == 3, UP_WITHIN)
            before = {(p.pid, p.start) for p in browsers()}
            argv = {(p.pid, p.start): p.argv[:3] for p in browsers()}
            top = [read_proc(f.pid) for f in foreign]
            assert all(top)
            # A record left by a dead run whose pids now name these browsers (pids reused):
            # wrong process kind, wrong profile, wrong start time. None of it may be killed.
            data = site.data_dir
            data.mkdir(parents=True, exist_ok=True)
            fake_profile = tempfile.mkdtemp(prefix="dogcli-chromium-")
            record = {
                "owner": [2**22 + 7, 1],
                "driver": [a.pid, top[0].start],  # type: ignore[union-attr]
                "profile": fake_profile,
                "browser": [[b.pid, top[1].start + 1], [c.pid, top[2].start]],  # type: ignore[union-attr]
            }
            (data / ".browser-pids").write_text(json.dumps(record) + "\n")

            done = run_cli("backfill", str(site.day(-1)), env=env)
            assert done.code == 0, done.err[-2000:]

            gone = [argv[k] for k in before if (p := read_proc(k[0])) is None or p.start != k[1]]
            assert not gone, f"foreign processes killed: {gone}"
            assert all(f.poll() is None for f in foreign)
            assert plain.is_dir() and named.is_dir() and legacy.is_dir()
            assert not Path(fake_profile).exists()  # the dead run's unused profile is gone
            text = (data / ".browser-pids").read_text() if (data / ".browser-pids").exists() else ""
            assert not text.strip(), text  # the dead run's record is settled
    finally:
        for d in (named, legacy):
            shutil.rmtree(d, ignore_errors=True)

"""What every section shares: the workload, metrics, the replica, running dogcli, /proc sampling."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
SITE_TZ = "America/Los_Angeles"
STREAMS = ("in_gate", "out_gate")


@dataclass
class Config:
    """The workload and the knobs; set from the command line (see bench/__main__.py)."""

    concurrency: int = 8
    latency: float = 0.05  # seconds per CDN request
    api_delay: float = 0.4  # seconds per page API call
    days: int = 7  # backfill days (2 streams each)
    interval: int = 600  # seconds between captures in the replica's data
    repeat: int = 3
    baseline_images: int = 300  # the one-at-a-time baseline downloads this many
    discovery_days: int = 4  # discovery: this many days x 2 streams
    catalog_rows: int = 1_000_000
    expired_rows: int = 100_000
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    startup_runs: int = 10
    quick: bool = False
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["workdir"] = str(self.workdir)
        out["databases"] = list(self.databases)
        return out


@dataclass
class Metric:
    """One line of the table: a measured quantity (median of samples) or a derived one."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    value: float | None = None  # defaults to the median of samples
    target: str = ""
    ok: bool | None = None  # None: no target, or not measurable
    note: str = ""

    def __post_init__(self) -> None:
        if self.value is None and self.samples:
            self.value = statistics.median(self.samples)

    @property
    def spread(self) -> str:
        if len(self.samples) < 2:
            return ""
        return f"{fmt(min(self.samples))}..{fmt(max(self.samples))}"

    def check(self, limit: float, at_most: bool = True, label: str | None = None) -> Metric:
        """Set target and ok: value <= limit (at_most) or value >= limit."""
        self.target = label or (f"< {fmt(limit)}" if at_most else f">= {fmt(limit)}")
        if self.value is not None:
            self.ok = self.value <= limit if at_most else self.value >= limit
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "value": self.value,
            "samples": self.samples,
            "min": min(self.samples) if self.samples else None,
            "max": max(self.samples) if self.samples else None,
            "target": self.target or None,
            "ok": self.ok,
            "note": self.note or None,
        }


def missing(name: str, unit: str, why: str, target: str = "") -> Metric:
    return Metric(name, unit, note=why, target=target)


@dataclass
class Section:
    key: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def add(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "info": self.info,
            "error": self.error or None,
            "metrics": [m.as_dict() for m in self.metrics],
        }


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def log(message: str) -> None:
    print(f"  · {message}", file=sys.stderr, flush=True)


# -- the replica ---------------------------------------------------------------------------------


def site_now() -> datetime:
    """Now, aware, in the site's zone (its date is the site's local today)."""
    return datetime.now(ZoneInfo(SITE_TZ)).replace(microsecond=0)


def past_days(count: int, today: date) -> list[date]:
    """The `count` full local days before today, oldest first."""
    return [today - timedelta(days=i) for i in range(count, 0, -1)]


@contextlib.contextmanager
def replica(
    cfg: Config,
    days: Sequence[date],
    now: datetime,
    seed: int = 11,
    gallery: str = "window-lazy",
) -> Iterator[Any]:
    """A running, warmed replica of the site serving local `days` x both streams (URLs
    stamped in UTC, like the real site; the replica's clock is the real one)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.replica import Replica, ReplicaConfig, make_dataset

    dataset = make_dataset(
        terminal="apm",
        streams=STREAMS,
        days=list(days),
        now=now,
        seed=seed,
        interval=cfg.interval,
        jitter=min(40, cfg.interval // 4),
    )
    rep = Replica(dataset, ReplicaConfig(api_delay=0.0, cdn_latency=0.0, gallery=gallery))
    rep.warm()  # JPEG encoding is not what we time
    rep.start()
    try:
        rep.cdn_latency = cfg.latency
        rep.api_delay = cfg.api_delay
        yield rep
    finally:
        rep.stop()


def kept_urls(rep: Any, days: Sequence[date]) -> list[str]:
    """The URL of the image a perfect client keeps, per capture of the local days (full
    size when the CDN serves it, else the thumbnail)."""
    urls = []
    for day in days:
        for stream in STREAMS:
            for spec in rep.published(stream, day):
                variant = "full" if rep.served(spec, "full") else "thumbnail"
                urls.append(rep.url(stream, spec.utc, variant))
    return urls


# -- running dogcli -------------------------------------------------------------------------------


def browser_paths() -> tuple[str, str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    driver = shutil.which("chromedriver") or ""
    if not binary or not driver:
        raise RuntimeError("chromium and chromedriver are needed (apt-get install chromium "
                           "chromium-driver)")  # fmt: skip
    return binary, driver


def dogcli_env(rep: Any | None, data_dir: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOGCLI_")}
    binary, driver = browser_paths()
    env.update(
        {
            "DOGCLI_DATA_DIR": str(data_dir),
            "DOGCLI_CHROME_BINARY": binary,
            "DOGCLI_CHROMEDRIVER": driver,
            "XDG_CONFIG_HOME": str(data_dir.parent / "xdg"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        }
    )
    if rep is not None:
        env["DOGCLI_SITE_URL"] = rep.site_url
        env["DOGCLI_CDN_URL"] = rep.cdn_url
    env.update(more)
    return env


def dogcli_bin() -> list[str]:
    """The installed console script next to this Python, else `python -m dogcli`."""
    script = Path(sys.executable).with_name("dogcli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dogcli"]


def has_command(env: dict[str, str], *command: str) -> bool:
    """Does this dogcli have the (sub)command? (`dogcli CMD --help` exits 0)."""
    done = subprocess.run(
        [*dogcli_bin(), *command, "--help"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    return done.returncode == 0


@dataclass
class Run:
    code: int
    wall: float
    out: str
    err: str
    cpu: float = 0.0  # dogcli's own process, user + system seconds
    maxrss_mb: float = 0.0  # dogcli's own process
    browser_mb: float = 0.0  # peak of the sum of PSS over its child processes
    browser_cpu: float = 0.0
    started: float = 0.0  # time.monotonic() when the process was started


def run_dogcli(
    args: Sequence[str], env: dict[str, str], timeout: float = 600, sample: bool = True
) -> Run:
    """dogcli under bench.rusage: wall time, its own CPU and peak RSS, the browser's memory."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        usage_path = handle.name
    cmd = [sys.executable, "-m", "bench.rusage", usage_path, *args]
    mono = time.monotonic()
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = TreeSampler(proc.pid) if sample else None
    if sampler:
        sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"dogcli {' '.join(args)} timed out after {timeout}s") from None
    finally:
        if sampler:
            sampler.stop()
    wall = time.perf_counter() - started
    run = Run(proc.returncode, wall, out, err, started=mono)
    try:
        usage = json.loads(Path(usage_path).read_text())
        run.cpu = usage["utime"] + usage["stime"]
        run.maxrss_mb = usage["maxrss_kb"] / 1024
    except (OSError, ValueError, KeyError):
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(usage_path)
    if sampler:
        run.browser_mb = sampler.peak_kb / 1024
        run.browser_cpu = sampler.cpu_seconds
    return run


def check_run(run: Run, what: str) -> Run:
    if run.code != 0:
        raise RuntimeError(f"{what} exited {run.code}: {(run.err or run.out).strip()[-600:]}")
    return run


# -- /proc sampling -------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                out.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(_children(child))
    return found


def pss_kb(pid: int) -> int:
    """Proportional set size (shared pages split among their users); RSS when not readable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


class TreeSampler:
    """Samples the processes below `pid` (the browser and its driver) every `period` seconds:
    the peak of the sum of their PSS, and their CPU time (last seen per process)."""

    def __init__(self, pid: int, period: float = 0.05) -> None:
        self.pid = pid
        self.period = period
        self.peak_kb = 0
        self._ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._ticks.values()) / CLOCK_TICKS

    def _loop(self) -> None:
        while not self._stop.is_set():
            total = 0
            for child in descendants(self.pid):
                total += pss_kb(child)
                ticks = cpu_ticks(child)
                if ticks:
                    self._ticks[child] = ticks
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(self.period)


# -- timing helpers ------------------------------------------------------------------------------


def timed(cmd: Sequence[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time of a command, checked."""
    started = time.perf_counter()
    done = subprocess.run(list(cmd), capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])} ... exited {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-600:]}"
        )
    return wall, done


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_dir(parent: Path, name: str) -> Path:
    path = parent / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def count_files(folder: Path, suffix: str = ".jpg") -> int:
    return sum(1 for p in folder.rglob(f"*{suffix}") if p.is_file())

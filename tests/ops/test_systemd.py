"""The systemd units in systemd/: valid for systemd itself, hardened, on the right schedule, and
consistent with `make install-systemd`. systemd-analyze does the checking (a test that cannot
run it fails in CI and skips elsewhere)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from dogcli.config import ENV_PREFIX, PARSERS
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
UNIT_DIR = ROOT / "systemd"
SERVICES = ("dogcli-fetch.service", "dogcli-cleanup.service", "dogcli-health.service")
TIMERS = ("dogcli-fetch.timer", "dogcli-cleanup.timer", "dogcli-health.timer")
# One instance per terminal (dogcli-fetch@apm.service); verified as the instance INSTANCE.
TEMPLATES = ("dogcli-fetch@.service", "dogcli-fetch@.timer")
INSTANCE = "apm"
EXEC = "/usr/local/bin/dogcli"  # where `make install-systemd` links the installed dogcli


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists: keys may repeat and order matters."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        assert "\\" not in line, f"{path.name}: keep settings on one line ({line!r})"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(path: Path, section: str, key: str) -> list[str]:
    return [v for k, v in parse_unit(path).get(section, []) if k == key]


def value(path: Path, section: str, key: str) -> str | None:
    found = values(path, section, key)
    return found[-1] if found else None


@pytest.fixture(scope="module")
def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        unavailable("systemd-analyze (Debian package systemd)")
        raise AssertionError  # unreachable
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": "UTC", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
    return subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """Copies of the units whose ExecStart points at a real executable: systemd-analyze verify
    rejects a command that does not exist, and dogcli is not installed in /usr/local here.
    Nothing else is changed."""
    stub = tmp_path / "bin" / "dogcli"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    out = tmp_path / "units"
    out.mkdir()
    for name in SERVICES + TIMERS + TEMPLATES:
        text = (UNIT_DIR / name).read_text()
        if name.endswith(".service"):
            assert f"ExecStart={EXEC} " in text, f"{name}: ExecStart is not {EXEC}"
            text = text.replace(f"ExecStart={EXEC} ", f"ExecStart={stub} ")
        (out / name.replace("@.", f"@{INSTANCE}.")).write_text(text)
    return out


INSTANCES = tuple(name.replace("@.", f"@{INSTANCE}.") for name in TEMPLATES)


def test_units_pass_systemd_analyze_verify(analyze: str, units: Path) -> None:
    files = [str(units / name) for name in SERVICES + TIMERS + INSTANCES]
    result = run(analyze, "verify", "--man=no", "--recursive-errors=no", *files)
    # verify exits 0 on mere warnings (an unknown key, say): any output is a finding.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_only_the_exec_path_was_rewritten_for_verify(analyze: str) -> None:
    """The originals, verified as they are: at most a complaint about the missing dogcli."""
    files = [str(UNIT_DIR / name) for name in SERVICES + TIMERS]
    result = run(analyze, "verify", "--man=no", "--recursive-errors=no", *files)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    expected = f"Command {EXEC} is not executable"
    assert all(expected in line for line in complaints), complaints
    assert result.returncode == 0 or complaints


def exposure(analyze: str, unit: Path) -> tuple[float, str]:
    result = run(analyze, "security", "--offline=true", "--no-pager", str(unit))
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(
        r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", result.stdout + result.stderr
    )
    assert match, result.stdout + result.stderr
    return float(match.group(1)), match.group(2)


@pytest.mark.parametrize("name", (*SERVICES, INSTANCES[0]))
def test_exposure_is_ok_or_better(analyze: str, units: Path, name: str) -> None:
    score, level = exposure(analyze, units / name)
    # systemd's scale: up to 4.9 is OK, below that SAFE and PERFECT; MEDIUM starts at 5.0.
    assert score <= 4.9 and level in ("OK", "SAFE", "PERFECT"), (score, level)


def test_fetch_hardening_and_its_chromium_relaxations() -> None:
    unit = UNIT_DIR / "dogcli-fetch.service"
    expected = {
        "Type": "oneshot",
        "User": "dogcli",
        "StateDirectory": "dogcli",
        "WorkingDirectory": "/var/lib/dogcli",
        "EnvironmentFile": "-/etc/dogcli/dogcli.env",
        "UMask": "0027",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        # Chromium's sandbox: a user namespace with PID and network namespaces inside.
        "RestrictNamespaces": "user pid net",
    }
    found = {key: value(unit, "Service", key) for key in expected}
    assert found == expected
    assert value(unit, "Service", "ExecStart") == f"{EXEC} fetch"
    assert "DOGCLI_DATA_DIR=/var/lib/dogcli" in values(unit, "Service", "Environment")
    # V8's JIT needs writable+executable memory: the one protection fetch must not have.
    assert value(unit, "Service", "MemoryDenyWriteExecute") is None
    filters = values(unit, "Service", "SystemCallFilter")
    assert filters[0] == "@system-service"
    for timeout in ("MemoryMax", "TimeoutStartSec"):
        assert value(unit, "Service", timeout), timeout


def test_cleanup_is_stricter_than_fetch() -> None:
    unit = UNIT_DIR / "dogcli-cleanup.service"
    assert (value(unit, "Service", "ExecStart") or "").startswith(f"{EXEC} cleanup")
    assert value(unit, "Service", "RestrictNamespaces") == "yes"
    assert value(unit, "Service", "MemoryDenyWriteExecute") == "yes"
    assert value(unit, "Service", "User") == "dogcli"
    assert value(unit, "Service", "StateDirectory") == "dogcli"


def test_health_is_as_strict_as_cleanup_and_a_warning_does_not_fail_it() -> None:
    health, cleanup = UNIT_DIR / "dogcli-health.service", UNIT_DIR / "dogcli-cleanup.service"
    assert value(health, "Service", "ExecStart") == f"{EXEC} health -q"
    # 1 WARNING passes; 2 CRITICAL and 3 UNKNOWN fail the unit (systemctl --failed).
    assert value(health, "Service", "SuccessExitStatus") == "1"
    hardening = ("User", "StateDirectory", "NoNewPrivileges", "ProtectSystem", "ProtectHome",
                 "PrivateUsers", "RestrictNamespaces", "MemoryDenyWriteExecute", "ProcSubset",
                 "CapabilityBoundingSet", "RestrictAddressFamilies", "UMask")  # fmt: skip
    for key in hardening:
        assert value(health, "Service", key) == value(cleanup, "Service", key), key
    assert values(health, "Service", "SystemCallFilter") == values(
        cleanup, "Service", "SystemCallFilter"
    )


def test_health_timer_runs_every_five_minutes_after_each_fetch(analyze: str) -> None:
    timer = UNIT_DIR / "dogcli-health.timer"
    spec = value(timer, "Timer", "OnCalendar")
    assert spec and value(timer, "Install", "WantedBy") == "timers.target"
    times = elapses(analyze, spec, 7)
    assert {b - a for a, b in pairwise(times)} == {timedelta(minutes=5)}
    # Never on a fetch tick (:x0): two minutes after it, and after the one in between.
    assert all(t.minute % 5 == 2 and t.second == 0 for t in times), times


def elapses(analyze: str, spec: str, iterations: int) -> list[datetime]:
    result = run(analyze, "calendar", f"--iterations={iterations}", spec)
    assert result.returncode == 0, result.stdout + result.stderr
    stamps = re.findall(
        r"^\s*(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)",
        result.stdout,
        re.MULTILINE,
    )
    assert len(stamps) == iterations, result.stdout
    return [datetime.strptime(s, "%Y-%m-%d %H:%M:%S") for s in stamps]


def test_fetch_timer_runs_every_ten_minutes_on_the_clock(analyze: str) -> None:
    timer = UNIT_DIR / "dogcli-fetch.timer"
    assert value(timer, "Timer", "OnCalendar") == "*:0/10"
    assert value(timer, "Timer", "Persistent") == "true"
    assert value(timer, "Install", "WantedBy") == "timers.target"
    times = elapses(analyze, "*:0/10", 7)
    assert all(t.minute % 10 == 0 and t.second == 0 for t in times), times
    assert {b - a for a, b in pairwise(times)} == {timedelta(minutes=10)}
    # The random spread stays well inside one period.
    delay = value(timer, "Timer", "RandomizedDelaySec") or "0"
    assert re.fullmatch(r"\d+s?", delay) and int(delay.rstrip("s")) <= 60, delay


def test_cleanup_timer_runs_daily(analyze: str) -> None:
    timer = UNIT_DIR / "dogcli-cleanup.timer"
    assert value(timer, "Timer", "Persistent") == "true"
    assert value(timer, "Install", "WantedBy") == "timers.target"
    spec = value(timer, "Timer", "OnCalendar")
    assert spec
    times = elapses(analyze, spec, 3)
    assert {b - a for a, b in pairwise(times)} == {timedelta(days=1)}


def test_env_example_names_real_settings() -> None:
    lines = (UNIT_DIR / "dogcli.env.example").read_text().splitlines()
    assignments = [
        line.lstrip("#").strip() for line in lines if re.match(r"^#?DOGCLI_[A-Z_]+=", line)
    ]
    names = {a.split("=", 1)[0] for a in assignments}
    known = {ENV_PREFIX + key.upper() for key in PARSERS}
    assert names and names <= known, names - known
    active = [line for line in lines if line and not line.startswith("#")]
    assert active == ["DOGCLI_DATA_DIR=/var/lib/dogcli"]


def test_make_install_systemd_matches_the_units() -> None:
    """The dry run lists the steps; the link it makes is the units' ExecStart."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        [make, "-s", "--no-print-directory", "install-systemd"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "DRY_RUN": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = result.stdout
    assert "would run" in steps
    link = re.search(r"ln -sfn (\S+) (\S+)", steps)
    assert link and link.group(2) == EXEC, steps
    assert re.search(rf"-m venv {re.escape(str(Path(link.group(1)).parent.parent))}\b", steps)
    assert all(f"systemd/{name}" in steps for name in SERVICES + TIMERS + TEMPLATES), steps
    assert "systemctl daemon-reload" in steps
    enabled = re.search(r"systemctl enable --now (.+)", steps)
    assert enabled and set(enabled.group(1).split()) == set(TIMERS), steps


def test_fetch_template_is_fetch_for_the_instance_terminal() -> None:
    """dogcli-fetch@T runs fetch with DOGCLI_TERMINAL=T (env files override Environment=,
    so they must not set it: the unit's comment says so), hardened as dogcli-fetch is, and
    waits for the other instances' runs instead of skipping its tick."""
    unit, plain = UNIT_DIR / "dogcli-fetch@.service", UNIT_DIR / "dogcli-fetch.service"
    assert value(unit, "Service", "ExecStart") == f"{EXEC} fetch --wait 300"
    assert "DOGCLI_TERMINAL=%i" in values(unit, "Service", "Environment")
    assert values(unit, "Service", "EnvironmentFile")[-1] == "-/etc/dogcli/dogcli-%i.env"
    skip = {"ExecStart", "Environment", "EnvironmentFile", "RuntimeDirectory"}
    hardening = [kv for kv in parse_unit(plain)["Service"] if kv[0] not in skip]
    assert [kv for kv in parse_unit(unit)["Service"] if kv[0] not in skip] == hardening
    assert value(UNIT_DIR / "dogcli-fetch@.timer", "Timer", "Unit") == "dogcli-fetch@%i.service"

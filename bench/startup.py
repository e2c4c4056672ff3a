"""5. Start-up: `dogcli --help` and `dogcli health`, wall time (hyperfine when installed).

Also which heavy modules each one imports (python -X importtime): --help needs none of
selenium, sqlalchemy, requests; health needs sqlalchemy (the catalog) but not the browser.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    ROOT,
    Config,
    Metric,
    Section,
    dogcli_bin,
    dogcli_env,
    fresh_dir,
    has_command,
    missing,
)

TARGETS = {"--help": 0.3, "health": 0.6}
HEAVY = ("selenium", "sqlalchemy", "requests", "alembic", "pydantic", "psycopg", "tenacity")
ALLOWED = {"--help": set[str](), "health": {"sqlalchemy", "alembic", "psycopg", "tenacity"}}


def hyperfine(cmd: list[str], env: dict[str, str], runs: int, work: Path) -> list[float]:
    out = work / "hyperfine.json"
    line = " ".join(shlex.quote(c) for c in cmd)
    subprocess.run(
        ["hyperfine", "--warmup", "2", "--runs", str(runs), "--ignore-failure", "--style",
         "none", "--export-json", str(out), "-N", line],
        env=env, cwd=ROOT, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return list(json.loads(out.read_text())["results"][0]["times"])


def loop(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    for _ in range(2):
        subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=120)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=120)
        samples.append(time.perf_counter() - started)
    return samples


def heavy_imports(args: list[str], env: dict[str, str]) -> set[str]:
    code = "import sys; from dogcli.cli.app import main; main(sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            top = module.split(".")[0]
            if top in HEAVY:
                found.add(top)
    return found


def run(cfg: Config) -> Section:
    sec = Section("startup", "5. Start-up (wall time of the whole command)")
    work = fresh_dir(cfg.workdir, "startup")
    env = dogcli_env(None, work / "data")
    subprocess.run([*dogcli_bin(), "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    use_hyperfine = shutil.which("hyperfine") is not None
    sec.info["timer"] = "hyperfine" if use_hyperfine else "subprocess loop"
    for command, target in TARGETS.items():
        args = [command]
        label = f"dogcli {command}"
        if command != "--help" and not has_command(env, command):
            sec.add(missing(label, "s", "n/a (command missing)", f"< {target}"))
            continue
        cmd = [*dogcli_bin(), *args]
        if use_hyperfine:
            samples = hyperfine(cmd, env, cfg.startup_runs, work)
        else:
            samples = loop(cmd, env, cfg.startup_runs)
        metric = sec.add(Metric(label, "s", samples)).check(target)
        imported = heavy_imports(args, env)
        extra = sorted(imported - ALLOWED[command])
        metric.note = "imports " + (
            ", ".join(sorted(imported)) or "no selenium/sqlalchemy/requests"
        )
        if extra:
            metric.note += f"; should not import {', '.join(extra)}"
            metric.ok = False
    return sec

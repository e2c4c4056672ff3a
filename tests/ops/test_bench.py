"""Smoke test of the benchmark harness (bench/): every section runs on a tiny workload.

No timing is asserted here: only that each section measured something (positive numbers)
and that the table and the JSON document carry every section.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pgserver
from tests.conftest import IN_CI, unavailable

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("backfill", "discovery", "steady", "catalog", "startup")
OPTIONAL_TOOLS = ("aria2c", "curl")  # Debian packages that `make bench` installs


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_bench_runs_every_section_on_a_tiny_workload(
    tmp_path: Path, chromium: tuple[str, str]
) -> None:
    databases = "sqlite,postgresql"
    if pgserver.find_bindir() is None:
        if IN_CI:
            unavailable("PostgreSQL (apt-get install postgresql)")
        databases = "sqlite"
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOGCLI_")}
    env["PATH"] = os.pathsep.join([str(Path(chromium[1]).parent), env.get("PATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "bench",
         "--days", "1", "--interval", "3600", "--repeat", "1", "--baseline-images", "5",
         "--discovery-days", "1", "--catalog-rows", "1000", "--expired-rows", "100",
         "--startup-runs", "2", "--latency", "5", "--api-delay", "50",
         "--databases", databases, "--workdir", str(tmp_path / "work"), "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=580,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert set(doc["sections"]) == set(SECTIONS)
    for key, section in doc["sections"].items():
        assert section["error"] is None, f"{key}: {section['error']}"
        assert section["metrics"], key
        assert section["title"] in done.stdout  # the printed table has every section
        for metric in section["metrics"]:
            name = metric["name"]
            if metric["value"] is None:
                # only a comparison tool that is not installed may be missing
                tool = next((t for t in OPTIONAL_TOOLS if t in name or t in metric["note"]), None)
                assert tool is not None and shutil.which(tool) is None, f"{key}: {metric}"
                continue
            assert metric["value"] > 0, f"{key}: {metric}"
            assert all(sample > 0 for sample in metric["samples"]), f"{key}: {metric}"
    catalog = {m["name"] for m in doc["sections"]["catalog"]["metrics"]}
    for db in databases.split(","):
        assert any(name.strip().startswith(f"{db}: dogcli stats") for name in catalog), catalog
        assert any(name.strip().startswith(f"{db}: dogcli cleanup") for name in catalog), catalog
    backfill = doc["sections"]["backfill"]
    assert backfill["info"]["images"] > 0
    assert doc["config"]["days"] == 1 and doc["config"]["catalog_rows"] == 1000

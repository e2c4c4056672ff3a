"""README's command reference is what `make docs` generates from the --help of today's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dogcli.cli import docs

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_readme_reference_is_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rendering must not depend on the terminal it runs in.
    monkeypatch.setenv("COLUMNS", "37")
    monkeypatch.setenv("NO_COLOR", "1")
    text = README.read_text(encoding="utf-8")
    assert docs.update(text) == text, "README.md's command reference is stale: run `make docs`"


def test_every_command_is_in_it() -> None:
    section = docs.render()
    for name in ("fetch", "backfill", "cleanup", "health", "runs", "stats", "verify", "db",
                 "db upgrade"):  # fmt: skip
        assert f"#### `dogcli {name}`" in section
    assert "Usage: dogcli db upgrade [OPTIONS]" in section
    assert "\x1b[" not in section  # no colour codes
    assert all(len(line) <= docs.WIDTH for line in section.splitlines() if "<!--" not in line)


def test_check_and_update_from_the_command_line(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{docs.START}\nold\n{docs.END}\n\nafter\n")
    env = {**os.environ, "COLUMNS": "300"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dogcli.cli.docs", *args, str(readme)]
        return subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
        )

    stale = run("--check")
    assert stale.returncode == 1 and "make docs" in stale.stderr
    assert run().returncode == 0
    text = readme.read_text()
    assert text.startswith("# x\n\n") and text.endswith(f"{docs.END}\n\nafter\n")
    assert docs.render() in text
    assert run("--check").returncode == 0
    readme.write_text("no markers\n")
    broken = run("--check")
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) == 1

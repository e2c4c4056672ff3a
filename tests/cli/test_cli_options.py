"""What typer gives the commands' options, through the public CLI: an option left unset is
None to the command (its default decided there), a given one is coerced and checked, and
dogcli patches none of typer's private internals to get there (issue 14)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from dogcli.model.status import HealthStatus

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from dogcli.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code}))
"""


def probe(tmp_path: Path, *args: str) -> dict[str, object]:
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "DOGCLI_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    last = ran.stdout.strip().splitlines()[-1]
    result: dict[str, object] = json.loads(last)
    result["out"], result["err"] = ran.stdout, ran.stderr
    return result


def test_typer_is_not_pinned_and_not_patched() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.findall(r'"typer([^"]*)"', pyproject) == [">=0.28"]
    private = re.compile(r"_TyperParameter|_get_shell_name|get_runtime_param|_completion_shared")
    patched = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "dogcli").rglob("*.py"))
        if private.search(path.read_text())
    ]
    assert patched == []


def test_unset_options_reach_the_command_as_unset(tmp_path: Path) -> None:
    # Every option of health left unset: the settings' own defaults apply.
    ran = probe(tmp_path, "-q", "health", "--json")
    assert ran["code"] in list(HealthStatus), ran["err"]
    # export's --format unset (None): the command takes csv.
    ran = probe(tmp_path, "export")
    assert ran["code"] == 0, ran["err"]
    assert str(ran["out"]).startswith("terminal,stream,captured_at,")
    assert "(csv) to stdout" in str(ran["err"])


def test_given_options_are_coerced_and_checked(tmp_path: Path) -> None:
    ran = probe(tmp_path, "runs", "--limit", "3", "--json")
    assert ran["code"] == 0, ran["err"]
    ran = probe(tmp_path, "runs", "--limit", "three")
    assert ran["code"] == 2 and "Invalid value for '--limit'" in str(ran["err"])
    ran = probe(tmp_path, "fetch", "-s", "in_gate", "-s", "out_gate", "--max-days", "0")
    assert ran["code"] == 2 and "--max-days" in str(ran["err"])

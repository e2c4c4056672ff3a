"""dogcli.cli.app replaces typer's private _TyperParameter.get_runtime_param so that an option left
unset skips pydantic (0.15 s of `dogcli health`). typer is pinned for it; these tests tell
whoever moves the pin whether the patch still applies and still pays off."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from dogcli.model.status import HealthStatus

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from dogcli.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "pydantic": "pydantic" in sys.modules}))
"""


def probe(tmp_path: Path, *args: str) -> dict[str, object]:
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "DOGCLI_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    last = ran.stdout.strip().splitlines()[-1]
    result: dict[str, object] = json.loads(last)
    result["err"] = ran.stderr
    return result


def test_typer_is_pinned_to_the_installed_version() -> None:
    pins = re.findall(r'"typer==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pins == [version("typer")]


def test_the_patch_applies() -> None:
    from typer.core import _TyperParameter

    import dogcli.cli.app  # noqa: F401

    assert getattr(_TyperParameter.get_runtime_param, "_dogcli", False)


def test_unset_options_skip_pydantic(tmp_path: Path) -> None:
    # Flags (bools, which typer never coerces) and unset options: pydantic stays unimported.
    ran = probe(tmp_path, "-q", "health", "--json")
    assert ran["code"] in list(HealthStatus), ran["err"]
    assert ran["pydantic"] is False


def test_given_options_are_still_coerced_and_checked(tmp_path: Path) -> None:
    ran = probe(tmp_path, "runs", "--limit", "3", "--json")
    assert ran["code"] == 0 and ran["pydantic"] is True, ran["err"]
    ran = probe(tmp_path, "runs", "--limit", "three")
    assert ran["code"] == 2 and "Invalid value for '--limit'" in str(ran["err"])
    ran = probe(tmp_path, "fetch", "-s", "in_gate", "-s", "out_gate", "--max-days", "0")
    assert ran["code"] == 2 and "--max-days" in str(ran["err"])

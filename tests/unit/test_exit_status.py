"""Exit statuses: one enum each for commands and health, and no bare numbers in the code."""

from __future__ import annotations

import re
from pathlib import Path

from dogcli.archive.lock import LockBusy
from dogcli.model.errors import DataDirUnusable, DogcliError, SettingsError, UsageError
from dogcli.model.status import ExitStatus, HealthStatus

PACKAGE = Path(__file__).resolve().parents[2] / "dogcli"


def test_the_documented_values() -> None:
    assert [(s.name, int(s)) for s in ExitStatus] == [
        ("OK", 0), ("FAILURE", 1), ("USAGE", 2), ("BUSY", 75), ("INTERRUPTED", 130),
        ("TERMINATED", 143),
    ]  # fmt: skip
    assert [(s.name, int(s)) for s in HealthStatus] == [
        ("OK", 0), ("WARNING", 1), ("CRITICAL", 2), ("UNKNOWN", 3),
    ]  # fmt: skip
    assert f"{ExitStatus.BUSY}" == "75"  # printed as a number (metrics, logs)


def test_errors_carry_the_enum() -> None:
    assert DogcliError.exit_code is ExitStatus.FAILURE
    for error in (SettingsError, UsageError, DataDirUnusable):
        assert error.exit_code is ExitStatus.USAGE
    assert LockBusy.exit_code is ExitStatus.BUSY


def test_no_bare_exit_numbers_in_the_package() -> None:
    bare = re.compile(r"(?:typer\.Exit|sys\.exit|_die)\([^)]*?\b\d+\b|exit_code\s*=\s*\d")
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert not found, found

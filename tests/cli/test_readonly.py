"""health, stats, runs and verify (without --repair) look and never create: in an empty
directory they say "no archive yet" and leave it empty."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dogcli.model.status import ExitStatus, HealthStatus


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


COMMANDS = [
    (["health"], HealthStatus.UNKNOWN),
    (["health", "--json"], HealthStatus.UNKNOWN),
    (["stats"], ExitStatus.OK),
    (["stats", "--json"], ExitStatus.OK),
    (["runs"], ExitStatus.OK),
    (["runs", "--json"], ExitStatus.OK),
    (["verify"], ExitStatus.OK),
    (["verify", "--json", "--deep"], ExitStatus.OK),
]


@pytest.mark.parametrize(("args", "code"), COMMANDS)
def test_in_an_empty_directory_nothing_is_created(
    args: list[str], code: int, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default data dir is ./data
    ran = cli(*args)
    assert ran.code == code, ran.err
    assert tree(tmp_path) == []
    assert "no archive yet" in ran.out + ran.err
    if "--json" in args:
        json.loads(ran.out)  # stdout stays data; the remark goes to stderr


@pytest.mark.parametrize(("args", "code"), COMMANDS)
def test_in_an_existing_empty_data_dir_only_health_writes_its_file(
    args: list[str], code: int, tmp_path: Path, cli: Any
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ran = cli("--data-dir", str(data_dir), *args)
    assert ran.code == code, ran.err
    assert tree(tmp_path) == ["data", "data/.health"] if args[0] == "health" else ["data"]


def test_empty_answers_in_json(tmp_path: Path, cli: Any) -> None:
    base = ("--data-dir", str(tmp_path / "data"))
    health = json.loads(cli(*base, "health", "--json").out)
    assert health["status"] == "unknown"
    assert {c["name"]: c["status"] for c in health["checks"]} == {
        "catalog": "unknown", "data_dir": "unknown", "disk": "ok",
    }  # fmt: skip
    stats = json.loads(cli(*base, "stats", "--json").out)
    assert {s: v["count"] for s, v in stats["streams"].items()} == {"in_gate": 0, "out_gate": 0}
    assert stats["last_runs"] == {}
    assert json.loads(cli(*base, "runs", "--json").out) == {"runs": []}
    verify = json.loads(cli(*base, "verify", "--json").out)
    assert verify["ok"] is True and verify["rows"] == 0 and verify["problems"] == []


def test_images_without_a_catalog_are_a_problem_for_verify(tmp_path: Path, cli: Any) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "images").mkdir(parents=True)
    ran = cli("--data-dir", str(data_dir), "verify")
    assert ran.code == ExitStatus.FAILURE
    assert "verify --repair" in ran.err and len(ran.err.strip().splitlines()) == 1
    assert tree(tmp_path) == ["data", "data/images"]


def test_an_existing_archive_is_read_as_before(tmp_path: Path, cli: Any) -> None:
    data_dir = tmp_path / "data"
    assert cli("--data-dir", str(data_dir), "db", "upgrade").code == 0
    before = set(os.listdir(data_dir))
    for args in (["stats", "--json"], ["runs"], ["verify"]):
        ran = cli("--data-dir", str(data_dir), *args)
        assert ran.code == 0 and "no archive yet" not in ran.err, ran.err
    # SQLite's -wal/-shm companions come and go; verify's shared lock may leave .lock.
    after = {n for n in os.listdir(data_dir) if not n.endswith(("-wal", "-shm"))}
    assert after <= before | {".lock"}

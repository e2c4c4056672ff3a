"""dogcli config show / config init, and the warning for a misspelled DOGCLI_* variable."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from dogcli.config import PARSERS, Settings, load_settings, unknown_variables
from dogcli.jobs.config import starter_toml

ROOT = Path(__file__).resolve().parents[2]


def show(cli: Any, *args: str) -> dict[str, Any]:
    ran = cli(*args, "config", "show", "--json")
    assert ran.code == 0, ran.err
    result: dict[str, Any] = json.loads(ran.out)
    return result


def test_show_names_the_source_of_each_value(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "dogcli.toml"
    config.write_text('[dogcli]\nconcurrency = 6\nstreams = ["in_gate"]\nretention_days = 9\n')
    monkeypatch.setenv("DOGCLI_RETENTION_DAYS", "12")  # env beats the file
    monkeypatch.setenv("DOGCLI_DATABASE_URL", "postgresql+psycopg://dog:s3cret@db.example/dogcli")
    report = show(cli, "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert report["config_file"] == str(config)
    got = report["settings"]
    assert set(got) == set(PARSERS)
    assert got["concurrency"] == {"value": 6, "source": "file", "from": str(config)}
    assert got["streams"] == {"value": ["in_gate"], "source": "file", "from": str(config)}
    assert got["retention_days"] == {
        "value": 12, "source": "env", "from": "DOGCLI_RETENTION_DAYS"
    }  # fmt: skip
    assert got["data_dir"] == {
        "value": str(tmp_path / "d"), "source": "option", "from": "--data-dir"
    }  # fmt: skip
    assert got["timezone"] == {"value": "America/Los_Angeles", "source": "default", "from": None}
    assert got["database_url"]["value"] == "postgresql+psycopg://dog:***@db.example/dogcli"


def test_show_as_a_table_masks_passwords(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_ALERT_URLS", "smtp://mail:hunter2@mx.example?to=ops@example.com")
    monkeypatch.setenv("DOGCLI_DATABASE_URL", "postgresql+psycopg://dog:s3cret@db/dogcli")
    ran = cli("config", "show")
    assert ran.code == 0, ran.err
    assert "s3cret" not in ran.out + ran.err and "hunter2" not in ran.out + ran.err
    lines = {line.split()[0]: line for line in ran.out.splitlines() if line.strip()}
    assert lines["#"] == "# config file: none"
    assert lines["alert_urls"].endswith("env DOGCLI_ALERT_URLS")
    assert "smtp://mail:***@mx.example" in lines["alert_urls"]
    assert lines["concurrency"].split() == ["concurrency", "4", "default"]
    assert lines["metrics_file"].split() == ["metrics_file", "(unset)", "default"]


def test_show_finds_the_user_config(cli: Any, tmp_path: Path) -> None:
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "dogcli" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("batch_size = 50\n")
    got = show(cli)
    assert got["config_file"] == str(user)
    assert got["settings"]["batch_size"] == {"value": 50, "source": "file", "from": str(user)}


def test_show_reports_a_bad_value_in_one_line(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOGCLI_CONCURRENCY", "lots")
    ran = cli("config", "show")
    assert ran.code == 2
    assert ran.err.strip() == "dogcli: error: DOGCLI_CONCURRENCY must be a whole number, got 'lots'"


def test_init_writes_a_starter_that_loads_to_the_defaults(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "etc" / "dogcli.toml"
    ran = cli("config", "init", str(path))
    assert ran.code == 0, ran.err
    text = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it may come to hold passwords
    assert tomllib.loads(text) == {"dogcli": {}}  # everything commented out
    for key in PARSERS:
        assert f"# {key} = " in text, key
    assert load_settings(config=path, env={}) == Settings()
    # Every commented default, uncommented, is the default again.
    uncommented = "\n".join(
        line[2:] if " = " in line and line.startswith("# ") else line for line in text.splitlines()
    )
    path.write_text(uncommented)
    assert load_settings(config=path, env={}) == Settings()


def test_init_refuses_to_overwrite_without_force(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("concurrency = 8\n")
    ran = cli("config", "init", str(path))
    assert ran.code == 2
    assert "exists; give --force" in ran.err and len(ran.err.strip().splitlines()) == 1
    assert path.read_text() == "concurrency = 8\n"
    assert cli("config", "init", "--force", str(path)).code == 0
    assert path.read_text() == starter_toml()


def test_init_defaults_to_the_user_config_path(cli: Any) -> None:
    ran = cli("config", "init")
    assert ran.code == 0, ran.err
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "dogcli" / "config.toml"
    assert user.read_text() == starter_toml()
    assert str(user) in ran.err


def test_unknown_variables_name_the_closest_setting() -> None:
    env = {
        "DOGCLI_CONCURENCY": "3",
        "DOGCLI_RETENTON_DAYS": "5",
        "DOGCLI_WHATEVER": "1",
        "DOGCLI_CONFIG": "/x",
        "DOGCLI_CONCURRENCY": "2",
        "PATH": "/bin",
    }
    assert unknown_variables(env) == [
        ("DOGCLI_CONCURENCY", "DOGCLI_CONCURRENCY"),
        ("DOGCLI_RETENTON_DAYS", "DOGCLI_RETENTION_DAYS"),
        ("DOGCLI_WHATEVER", None),
    ]


def test_a_misspelled_variable_warns_in_one_line_and_does_not_fail(tmp_path: Path) -> None:
    env = {**os.environ, "DOGCLI_DATA_DIR": str(tmp_path / "data"), "DOGCLI_CONCURENCY": "9"}
    ran = subprocess.run(
        [sys.executable, "-m", "dogcli", "config", "show", "--json"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == (
        "dogcli: warning: DOGCLI_CONCURENCY is not a dogcli setting, ignored; "
        "did you mean DOGCLI_CONCURRENCY?\n"
    )
    assert json.loads(ran.stdout)["settings"]["concurrency"]["value"] == 4

"""The command line through typer's CliRunner and through main() (one-line errors, exit codes)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dogcli import __version__
from dogcli.catalog.revisions import scripted_head
from dogcli.cli.app import app

runner = CliRunner()


def test_version_and_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"dogcli {__version__}"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("fetch", "backfill", "stats", "db"):
        assert command in result.output
    for command in (["fetch"], ["backfill"], ["stats"], ["db", "upgrade"]):
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0


def test_db_upgrade_then_stats_on_an_empty_archive(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(tmp_path), "db", "upgrade"])
    assert result.exit_code == 0 and f"revision {scripted_head()}" in result.output
    assert (tmp_path / "dogcli.db").is_file()
    result = runner.invoke(app, ["--data-dir", str(tmp_path), "stats", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert set(report["streams"]) == {"in_gate", "out_gate"}
    assert report["streams"]["in_gate"]["count"] == 0
    result = runner.invoke(app, ["--data-dir", str(tmp_path), "stats", "-s", "out_gate", "--json"])
    assert set(json.loads(result.output)["streams"]) == {"out_gate"}


TOMORROW = (date.today() + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["backfill", "2025-09-10..2025-09-01"], {}, "2025-09-01 is before 2025-09-10"),
        (["backfill", "2025-09-01...2025-09-02"], {}, "bad range"),
        (["backfill", "yesterday"], {}, "bad range 'yesterday'"),
        (["backfill", "2025-02-30"], {}, "day is out of range for month"),
        (["backfill", f"2025-09-01..{TOMORROW}"], {}, "is in the future"),
        (["backfill", "2025-09-01", "-s", "side_gate"], {}, "unknown stream 'side_gate'"),
        (["fetch", "-s", "../etc"], {}, "unknown stream"),
        (["fetch", "--max-days", "0"], {}, "--max-days"),
        (["fetch", "--max-days", "-3"], {}, "--max-days"),
        (["fetch", "--concurrency", "1000"], {}, "--concurrency must be between 1 and 32"),
        (["fetch", "--concurrency", "x"], {}, "Invalid value for '--concurrency'"),
        (["stats"], {"DOGCLI_BATCH_SIZE": "0"}, "DOGCLI_BATCH_SIZE must be between 1 and 1000"),
        (["stats"], {"DOGCLI_TIMEZONE": "Nowhere"}, "unknown time zone"),
        (
            ["stats"],
            {"DOGCLI_DATABASE_URL": "postgresql://u:pw@h:port/x"},
            "cannot parse database URL",
        ),
        (["stats"], {"DOGCLI_DATABASE_URL": "oracle://scott:tiger@h/x"}, "unsupported database"),
        (["--config", "/nonexistent.toml", "stats"], {}, "config file not found"),
        (["fetch"], {"DOGCLI_CHROME_BINARY": "/nonexistent/chromium"}, "DOGCLI_CHROME_BINARY"),
        (["fetch", "--bogus"], {}, "No such option: --bogus"),
        (["cleanup", "--wait", "inf"], {}, "Invalid value for '--wait'"),
        (["cleanup", "--wait", "nan"], {}, "Invalid value for '--wait'"),
        (["frobnicate"], {}, "No such command"),
        ([], {}, "Usage: dogcli"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str],
    env: dict[str, str],
    message: str,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ran = cli(*args)
    assert ran.code == 2, (ran.out, ran.err)
    assert message in ran.err
    assert "Traceback" not in ran.err
    if args:
        assert len(ran.err.strip().splitlines()) == 1, ran.err
        assert ran.err.startswith("dogcli: error: ")
    for secret in ("pw@", "tiger"):
        assert secret not in ran.err


def test_unwritable_data_dir_is_a_clear_error(cli: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    ran = cli("--data-dir", str(blocker / "data"), "db", "upgrade")
    assert ran.code == 2
    assert "Traceback" not in ran.err and len(ran.err.strip().splitlines()) == 1


def test_config_file_option(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "dogcli.toml"
    config.write_text(f'data_dir = "{tmp_path / "archive"}"\nstreams = ["in_gate"]\n')
    ran = cli("--config", str(config), "stats", "--json")
    assert ran.code == 0, ran.err
    assert list(json.loads(ran.out)["streams"]) == ["in_gate"]
    # stats only looks: it names the config's archive, and creates nothing.
    assert f"no archive yet: {tmp_path / 'archive' / 'dogcli.db'}" in ran.err
    assert not (tmp_path / "archive").exists()


def test_verbosity_flags_work_after_the_command(cli: Any, tmp_path: Path) -> None:
    quiet = cli("--data-dir", str(tmp_path), "db", "upgrade", "-q")
    assert quiet.code == 0 and quiet.out == "" and quiet.err == ""
    loud = cli("--data-dir", str(tmp_path / "other"), "db", "upgrade", "--verbose")
    assert loud.code == 0 and "catalog schema upgraded" in loud.err

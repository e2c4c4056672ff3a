"""Bad input for every command and every setting: one line on stderr naming the problem, exit 2
(health: 3, UNKNOWN, as monitoring plugins expect), no traceback, no secret echoed.

tests/cli/test_cli.py has the first such table; this one covers the rest: each setting through the
environment and the config file, each command's own options, ranges, URLs, the data dir and the
browser.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.faultkit import record

FUTURE = (date.today() + timedelta(days=3)).isoformat()
SECRETS = ("hunter2", "s3cret", "tiger")

# (command, environment, expected words in the message)
SETTINGS: list[tuple[list[str], dict[str, str], str]] = [
    (["stats"], {"DOGCLI_CONCURRENCY": "0"}, "DOGCLI_CONCURRENCY must be between 1 and 32"),
    (["stats"], {"DOGCLI_CONCURRENCY": "-4"}, "DOGCLI_CONCURRENCY must be between 1 and 32"),
    (["stats"], {"DOGCLI_CONCURRENCY": "1" + "0" * 30}, "DOGCLI_CONCURRENCY must be between"),
    (["stats"], {"DOGCLI_CONCURRENCY": "four"}, "DOGCLI_CONCURRENCY must be a whole number"),
    (["stats"], {"DOGCLI_CONCURRENCY": "2.5"}, "DOGCLI_CONCURRENCY must be a whole number"),
    (["stats"], {"DOGCLI_BATCH_SIZE": "1001"}, "DOGCLI_BATCH_SIZE must be between 1 and 1000"),
    (["stats"], {"DOGCLI_MAX_RETRIES": "-1"}, "DOGCLI_MAX_RETRIES must be between 0 and 20"),
    (["stats"], {"DOGCLI_MAX_RETRIES": "21"}, "DOGCLI_MAX_RETRIES must be between 0 and 20"),
    (["stats"], {"DOGCLI_RETRY_BASE": "-0.5"}, "DOGCLI_RETRY_BASE must be between 0 and 60"),
    (["stats"], {"DOGCLI_RETRY_BASE": "inf"}, "DOGCLI_RETRY_BASE must be between 0 and 60"),
    (["stats"], {"DOGCLI_RETRY_BASE": "nan"}, "DOGCLI_RETRY_BASE must be between 0 and 60"),
    (["stats"], {"DOGCLI_RETRY_BASE": "1e400"}, "DOGCLI_RETRY_BASE must be between 0 and 60"),
    (["stats"], {"DOGCLI_READ_TIMEOUT": "0"}, "DOGCLI_READ_TIMEOUT must be between 0.1 and 600"),
    (["stats"], {"DOGCLI_PAGE_TIMEOUT": "999"}, "DOGCLI_PAGE_TIMEOUT must be between 1 and 600"),
    (["stats"], {"DOGCLI_PAGE_TIMEOUT": "soon"}, "DOGCLI_PAGE_TIMEOUT must be a number"),
    (["stats"], {"DOGCLI_RETENTION_DAYS": "0"}, "DOGCLI_RETENTION_DAYS must be between 1"),
    (["stats"], {"DOGCLI_RETENTION_DAYS": "9" * 25}, "DOGCLI_RETENTION_DAYS must be between"),
    (["stats"], {"DOGCLI_TERMINAL": "../apm"}, "DOGCLI_TERMINAL must be lowercase"),
    (["stats"], {"DOGCLI_TERMINAL": "APM"}, "DOGCLI_TERMINAL must be lowercase"),
    (["stats"], {"DOGCLI_STREAMS": "in_gate,../../etc"}, "DOGCLI_STREAMS must be lowercase"),
    (["stats"], {"DOGCLI_STREAMS": ",,"}, "DOGCLI_STREAMS must name at least one stream"),
    (["stats"], {"DOGCLI_TIMEZONE": "Mars/Olympus"}, "DOGCLI_TIMEZONE: unknown time zone"),
    (["stats"], {"DOGCLI_TIMEZONE": "../../etc/passwd"}, "DOGCLI_TIMEZONE: unknown time zone"),
    (["stats"], {"DOGCLI_URL_TIMEZONE": "Z"}, "DOGCLI_URL_TIMEZONE: unknown time zone"),
    (["db", "upgrade"], {"DOGCLI_URL_TIMEZONE": "UTC+1"},
     "DOGCLI_URL_TIMEZONE: unknown time zone"),
    (["verify"], {"DOGCLI_URL_TIMEZONE": "/etc/localtime"},
     "DOGCLI_URL_TIMEZONE: unknown time zone"),
    (["stats"], {"DOGCLI_SITE_URL": "ftp://app.draydog.com"}, "DOGCLI_SITE_URL must be an http"),
    (["stats"], {"DOGCLI_SITE_URL": "javascript:alert(1)"}, "DOGCLI_SITE_URL must be an http"),
    (["stats"], {"DOGCLI_CDN_URL": "cdn.draydog.com"}, "DOGCLI_CDN_URL must be an http"),
    (["stats"], {"DOGCLI_CDN_URL": "http://"}, "DOGCLI_CDN_URL must be an http"),
    (["stats"], {"DOGCLI_DISK_WARN_PERCENT": "101"}, "DOGCLI_DISK_WARN_PERCENT must be between"),
    (["stats"], {"DOGCLI_DISK_WARN_PERCENT": "95", "DOGCLI_DISK_CRIT_PERCENT": "90"},
     "must not exceed DOGCLI_DISK_CRIT_PERCENT"),
    (["stats"], {"DOGCLI_STALE_CRIT_MINUTES": "0"}, "DOGCLI_STALE_CRIT_MINUTES must be between"),
    (["stats"], {"DOGCLI_ALERT_URLS": "ftp://bob:s3cret@mail"}, "unsupported alert target ftp://"),
    # Database URLs: unparsable, unsupported, not a URL at all; the password is never echoed.
    (["stats"], {"DOGCLI_DATABASE_URL": "postgresql://u:hunter2@db:port/x"},
     "cannot parse database URL"),
    (["stats"], {"DOGCLI_DATABASE_URL": "hunter2"}, "DOGCLI_DATABASE_URL is not a database URL"),
    (["stats"], {"DOGCLI_DATABASE_URL": "mysql://u:hunter2@db/x"}, "unsupported database 'mysql'"),
    (["db", "upgrade"], {"DOGCLI_DATABASE_URL": "postgresql+nosuchdriver://u:hunter2@db/x"},
     "unsupported database URL"),
    (["fetch"], {"DOGCLI_DATABASE_URL": "postgresql://u:hunter2@db:port/x"},
     "cannot parse database URL"),
    (["verify"], {"DOGCLI_DATABASE_URL": "postgresql://u:hunter2@db:port/x"},
     "cannot parse database URL"),
    # The browser: missing, not executable, not on PATH.
    (["fetch"], {"DOGCLI_CHROME_BINARY": "/nonexistent/chromium"}, "DOGCLI_CHROME_BINARY"),
    (["fetch"], {"DOGCLI_CHROMEDRIVER": "/nonexistent/chromedriver"}, "DOGCLI_CHROMEDRIVER"),
    (["backfill", "2025-09-01"], {"DOGCLI_CHROME_BINARY": "{tmp}/not-executable"},
     "is not an executable file"),
    (["fetch"], {"PATH": "{tmp}/empty-bin"}, "chromium not found on PATH"),
    (["backfill", "2025-09-01"], {"PATH": "{tmp}/empty-bin",
                                  "DOGCLI_CHROME_BINARY": "{tmp}/chromium"},
     "chromedriver not found on PATH"),
]  # fmt: skip

OPTIONS: list[tuple[list[str], str]] = [
    (["fetch", "--max-days", "367"], "--max-days"),
    (["fetch", "--max-days", "1" + "0" * 30], "--max-days"),
    (["fetch", "--concurrency", "0"], "--concurrency must be between 1 and 32"),
    (["fetch", "--concurrency", "-1"], "--concurrency must be between 1 and 32"),
    (["fetch", "-s", "IN_GATE"], "unknown stream 'IN_GATE'"),
    (["fetch", "-s", ""], "unknown stream ''"),
    (["fetch", "--wait", "-1"], "--wait"),
    (["backfill", ""], "bad range ''"),
    (["backfill", "2025-9-1"], "bad range '2025-9-1'"),
    (["backfill", "2025-09-01.."], "bad range"),
    (["backfill", "..2025-09-01"], "bad range"),
    (["backfill", "2025-09-01..2025-09-02..2025-09-03"], "bad range"),
    (["backfill", "2025-09-01T00:00:00"], "bad range"),
    (["backfill", "2025-02-29"], "day is out of range for month"),
    (["backfill", "2025-13-01"], "month must be in 1..12"),
    (["backfill", "2025-09-05..2025-09-04"], "2025-09-04 is before 2025-09-05"),
    (["backfill", f"{FUTURE}"], "is in the future"),
    (["backfill", "\uff12\uff10\uff12\uff15-\uff10\uff19-\uff10\uff11"], "bad range"),
    (["backfill", "2025-09-01", "-s", "../../etc"], "unknown stream '../../etc'"),
    (["backfill", "2025-09-01", "--concurrency", "33"], "--concurrency must be between 1 and 32"),
    (["backfill"], "give a RANGE of days or --gaps"),
    (["backfill", "--gaps", "2025-09-01"], "give a RANGE of days or --gaps"),
    (["stats", "-s", "nope"], "unknown stream 'nope'"),
    (["verify", "--since", "yesterday"], "bad --since 'yesterday'"),
    (["verify", "--since", "2025-13-01"], "bad --since '2025-13-01'"),
    (["verify", "--since", ""], "bad --since ''"),
    (["verify", "--wait", "-5"], "--wait"),
    (["cleanup", "--retention-days", "0"], "--retention-days must be between 1 and 36500"),
    (["cleanup", "--retention-days", "-30"], "--retention-days must be between 1 and 36500"),
    (["cleanup", "--retention-days", "9" * 12], "--retention-days"),
    (["cleanup", "--max-disk-percent", "0"], "--max-disk-percent must be between 1 and 100"),
    (["cleanup", "--max-disk-percent", "101"], "--max-disk-percent must be between 1 and 100"),
    (["cleanup", "--max-disk-percent", "nan"], "--max-disk-percent must be between 1 and 100"),
    (["runs", "--limit", "0"], "--limit"),
    (["runs", "--limit", "99999999999"], "--limit"),
    (["db", "upgrade", "--bogus"], "No such option: --bogus"),
    (["db", "frobnicate"], "No such command 'frobnicate'"),
    (["--data-dir", "", "stats"], "--data-dir must not be empty"),
]

CONFIGS: list[tuple[str, str]] = [
    ("concurrency = ", "config file"),
    ('concurrency = "many"', "concurrency (in dogcli.toml) must be a whole number"),
    ("concurrency = true", "concurrency (in dogcli.toml) must be a whole number"),
    ("retry_base = -1", "retry_base (in dogcli.toml) must be between 0 and 60"),
    ('url_timezone = "Pacific"', "url_timezone (in dogcli.toml): unknown time zone 'Pacific'"),
    ("colour = 'blue'", "unknown setting 'colour'"),
    ("dogcli = 5", "[dogcli] must be a table"),
    ('database_url = "postgresql://bob:tiger@db:port/x"', "cannot parse database URL"),
    ("streams = []", "streams (in dogcli.toml) must name at least one stream"),
    ('streams = ["in_gate", "out gate"]', "streams (in dogcli.toml) must be lowercase"),
    ("\x00\x01", "config file"),
]


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    (tmp_path / "empty-bin").mkdir()
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\nexit 0\n")
    chromium.chmod(0o755)
    return tmp_path


def _check(ran: Any, words: str, code: int = 2) -> None:
    assert ran.code == code, (ran.code, ran.out, ran.err)
    assert "Traceback" not in ran.err + ran.out
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("dogcli: error: "), lines[0]
    assert words in lines[0], lines[0]
    for secret in SECRETS:
        assert secret not in ran.err + ran.out


@pytest.mark.parametrize(("args", "env", "words"), SETTINGS)
def test_bad_setting(
    args: list[str],
    env: dict[str, str],
    words: str,
    cli: Any,
    tools: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tools / "data"))
    for key, value in env.items():
        monkeypatch.setenv(key, value.replace("{tmp}", str(tools)))
    _check(cli(*args), words)


@pytest.mark.parametrize(("args", "words"), OPTIONS)
def test_bad_option(
    args: list[str], words: str, cli: Any, tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tools / "data"))
    _check(cli(*args), words)


@pytest.mark.parametrize(("content", "words"), CONFIGS)
def test_bad_config_file(content: str, words: str, cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "dogcli.toml"
    config.write_text(content)
    _check(cli("--config", str(config), "--data-dir", str(tmp_path / "data"), "stats"), words)


def test_bad_setting_for_health_is_unknown_not_usage(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """health speaks the monitoring-plugin protocol: a settings error is 3, UNKNOWN."""
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "99")
    _check(cli("health"), "DOGCLI_MAX_RETRIES must be between 0 and 20", code=3)


@contextlib.contextmanager
def _read_only_dir(path: Path) -> Iterator[bool]:
    """A read-only file system (root ignores file modes, not a read-only mount)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield True
        path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
                             capture_output=True).returncode == 0  # fmt: skip
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


# The commands that write. stats, runs, health and verify only look: on a data dir that does
# not exist they report "no archive yet" (tests/cli/test_readonly.py).
UNWRITABLE_COMMANDS = [
    ["fetch"],
    ["backfill", "2025-09-01"],
    ["db", "upgrade"],
    ["verify", "--repair"],
    ["cleanup"],
]


@pytest.mark.parametrize("args", UNWRITABLE_COMMANDS, ids=lambda a: "-".join(a))
def test_unwritable_data_dir(
    args: list[str], cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a regular file (ENOTDIR) and on a read-only file system (EROFS, EACCES)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    ran = cli("--data-dir", str(blocker / "data"), *args)
    _check(ran, str(blocker / "data"))
    readonly = tmp_path / "ro"
    with _read_only_dir(readonly) as ok:
        if not ok:
            pytest.skip("cannot make a read-only directory here")
        ran = cli("--data-dir", str(readonly), *args)
        _check(ran, str(readonly))
    record("bad_input", unwritable_data_dir_commands=len(UNWRITABLE_COMMANDS))


def test_counts() -> None:
    record("bad_input", settings_cases=len(SETTINGS), option_cases=len(OPTIONS),
           config_cases=len(CONFIGS))  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize("args", [["fetch"], ["backfill", "2025-09-01"], ["cleanup"],
                                  ["verify", "--repair"]], ids=lambda a: a[0])  # fmt: skip
def test_unwritable_data_dir_with_a_postgresql_catalog(
    args: list[str], cli: Any, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SQLite file to trip over: the data dir itself is checked before any work."""
    monkeypatch.setenv("DOGCLI_DATABASE_URL", pg_url)
    blocker = tmp_path / "file"
    blocker.write_text("")
    _check(cli("--data-dir", str(blocker / "data"), *args), f"data dir {blocker / 'data'}")

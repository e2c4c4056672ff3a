from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dogcli.config import Settings, load_settings
from dogcli.model.captures import Zones
from dogcli.model.errors import SettingsError
from dogcli.sources.site.executables import browser_paths


def test_defaults() -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert s.streams == ("in_gate", "out_gate")
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("/data/dogcli.db")


def test_url_stamps_are_utc_and_days_local_by_default() -> None:
    s = load_settings(env={})
    assert (s.timezone, s.url_timezone) == ("America/Los_Angeles", "UTC")
    assert s.zones == Zones(ZoneInfo("America/Los_Angeles"), ZoneInfo("UTC"))
    capture = s.zones.capture("apm", "in_gate", "2025-09-06T00:20:27")
    assert capture.day == date(2025, 9, 5)


def test_url_timezone_from_file_and_env(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('url-timezone = "Europe/Paris"\ntimezone = "Asia/Tokyo"\n')
    s = load_settings(config=config, env={})
    assert s.zones == Zones(ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/Paris"))
    s = load_settings(config=config, env={"DOGCLI_URL_TIMEZONE": "America/Los_Angeles"})
    assert s.url_timezone == "America/Los_Angeles" and s.timezone == "Asia/Tokyo"
    # The earlier reading: stamps in the site's own zone, so a stamp's date is its day.
    capture = s.zones.capture("apm", "in_gate", "2025-09-06T00:20:27")
    assert capture.taken == datetime(2025, 9, 6, 7, 20, 27, tzinfo=UTC)


def test_priority_defaults_file_env_options(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('concurrency = 3\nterminal = "lbct"\nstreams = ["a", "b"]\nbatch_size = 10\n')
    env = {"DOGCLI_CONCURRENCY": "5", "DOGCLI_BATCH_SIZE": "20"}
    s = load_settings({"concurrency": 7, "site_url": None}, config=config, env=env)
    assert s.concurrency == 7  # option beats env beats file
    assert s.batch_size == 20  # env beats file
    assert s.terminal == "lbct"  # file beats default
    assert s.streams == ("a", "b")
    assert s.site_url == "https://app.draydog.com"


def test_config_from_env_var_and_dogcli_table(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[dogcli]\ndata-dir = "/srv/dogcli"\ncdn_url = "http://x:1/cdn/"\n')
    s = load_settings(env={"DOGCLI_CONFIG": str(config)})
    assert s.data_dir == Path("/srv/dogcli")
    assert s.cdn_url == "http://x:1/cdn"


def test_user_config_dir_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dogcli").mkdir()
    (tmp_path / "dogcli" / "config.toml").write_text("max_retries = 9\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_settings().max_retries == 9


def test_streams_from_env_are_split_and_deduplicated() -> None:
    s = load_settings(env={"DOGCLI_STREAMS": " in_gate, out_gate ,in_gate,"})
    assert s.streams == ("in_gate", "out_gate")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DOGCLI_CONCURRENCY": "0"}, "DOGCLI_CONCURRENCY must be between 1 and 32, got 0"),
        ({"DOGCLI_CONCURRENCY": "33"}, "between 1 and 32"),
        ({"DOGCLI_CONCURRENCY": "four"}, "DOGCLI_CONCURRENCY must be a whole number"),
        ({"DOGCLI_BATCH_SIZE": "1001"}, "DOGCLI_BATCH_SIZE must be between 1 and 1000"),
        ({"DOGCLI_MAX_RETRIES": "-1"}, "DOGCLI_MAX_RETRIES"),
        ({"DOGCLI_PAGE_TIMEOUT": "nan"}, "DOGCLI_PAGE_TIMEOUT"),
        ({"DOGCLI_PAGE_TIMEOUT": "1e9"}, "DOGCLI_PAGE_TIMEOUT must be between"),
        ({"DOGCLI_TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
        ({"DOGCLI_URL_TIMEZONE": "Mars/Olympus"}, "DOGCLI_URL_TIMEZONE: unknown time zone"),
        ({"DOGCLI_URL_TIMEZONE": "../../etc/passwd"}, "DOGCLI_URL_TIMEZONE: unknown time zone"),
        ({"DOGCLI_SITE_URL": "ftp://x"}, "DOGCLI_SITE_URL must be an http(s) URL"),
        ({"DOGCLI_CDN_URL": "not a url"}, "DOGCLI_CDN_URL"),
        ({"DOGCLI_TERMINAL": "../etc"}, "DOGCLI_TERMINAL must be lowercase"),
        ({"DOGCLI_STREAMS": "in_gate,Out Gate"}, "DOGCLI_STREAMS"),
        ({"DOGCLI_STREAMS": ","}, "at least one stream"),
        ({"DOGCLI_DATABASE_URL": "mysql://u:hunter2@h/db"}, "unsupported database 'mysql'"),
        ({"DOGCLI_DATABASE_URL": "hunter2"}, "not a database URL"),
        ({"DOGCLI_CONFIG": "/nonexistent.toml"}, "config file not found"),
    ],
)
def test_invalid_values_are_one_line_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env=env)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert "hunter2" not in text


def test_bad_toml_and_unknown_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("concurrency = \n")
    with pytest.raises(SettingsError, match=r"bad\.toml"):
        load_settings(config=bad, env={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("concurency = 3\n")
    with pytest.raises(SettingsError, match="unknown setting 'concurency'"):
        load_settings(config=unknown, env={})
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("concurrency = 100\n")
    with pytest.raises(SettingsError, match=r"concurrency \(in wrong.toml\) must be between"):
        load_settings(config=wrong, env={})


def test_browser_paths(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    with pytest.raises(SettingsError, match="not an executable"):
        browser_paths(
            load_settings(env={"DOGCLI_CHROME_BINARY": str(fake), "DOGCLI_CHROMEDRIVER": str(fake)})
        )
    fake.chmod(0o755)
    s = load_settings(env={"DOGCLI_CHROME_BINARY": str(fake), "DOGCLI_CHROMEDRIVER": str(fake)})
    assert browser_paths(s) == (str(fake), str(fake))


def test_missing_browser_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SettingsError, match="chromium not found on PATH"):
        browser_paths(load_settings(env={}))

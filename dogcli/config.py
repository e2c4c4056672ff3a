"""Settings: defaults < TOML file < environment (DOGCLI_*) < command-line options.

The Settings dataclass with its derived values, and where each value comes from; the
parsers of the values are in config_values."""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dogcli.config_values import NAME_RE as NAME_RE
from dogcli.config_values import PARSERS as PARSERS
from dogcli.config_values import ItemCheck as ItemCheck
from dogcli.model.captures import Zones
from dogcli.model.errors import SettingsError
from dogcli.model.scope import Scope

ENV_PREFIX = "DOGCLI_"
SYSTEM_CONFIG = Path("/etc/dogcli/config.toml")


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dogcli" / "config.toml"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str = ""  # empty: SQLite file in data_dir
    site_url: str = "https://app.draydog.com"
    cdn_url: str = "https://cdn.draydog.com"
    terminal: str = "apm"
    streams: tuple[str, ...] = ("in_gate", "out_gate")
    cameras: tuple[tuple[str, str], ...] = ()  # (terminal, stream); empty: terminal x streams
    timezone: str = "America/Los_Angeles"  # the page's days, "today", every report
    url_timezone: str = "UTC"  # the stamps in image URLs
    chrome_binary: str = ""
    chromedriver: str = ""
    concurrency: int = 4
    batch_size: int = 200
    max_retries: int = 3
    retry_base: float = 1.0
    read_timeout: float = 30.0
    page_timeout: float = 30.0
    retention_days: int = 30
    settle_hours: float = 3.0  # a day is read again until this long after it ended
    catchup_days: int = 7  # fetch reads the unsettled days of this many days before today
    gap_crit_hours: float = 24.0  # health: an incomplete day this long past its settle time
    disk_warn_percent: float = 80.0
    disk_crit_percent: float = 90.0
    stale_warn_minutes: float = 30.0
    stale_crit_minutes: float = 60.0
    alert_urls: tuple[str, ...] = ()
    ping_url: str = ""  # heartbeat, healthchecks.io's convention: URL/start, URL/0, URL/fail
    metrics_file: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def zones(self) -> Zones:
        return Zones(ZoneInfo(self.timezone), ZoneInfo(self.url_timezone))

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return sqlite_url(self.data_dir.resolve() / "dogcli.db")

    @property
    def camera_list(self) -> tuple[tuple[str, str], ...]:
        """Every (terminal, stream) archived: DOGCLI_CAMERAS, else DOGCLI_TERMINAL x STREAMS."""
        return self.cameras or tuple((self.terminal, s) for s in self.streams)

    @property
    def terminals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for t, _s in self.camera_list))

    def scope(self, picked: Sequence[str] = ()) -> Scope:
        """The cameras a command works on: those `picked` (`S` or `TERMINAL:S`; none: all)."""
        return Scope.pick(self.camera_list, picked)


def sqlite_url(path: Path) -> str:
    """The SQLite URL of a file, whatever its path holds: `%41`, `?`, `#`, spaces, unicode are
    escaped (an f-string made `pct%41dir` into `pctAdir` and `q?dir=1` into a file `q`)."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def _config_file(explicit: Path | None, env: dict[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise SettingsError(f"config file not found: {explicit}")
        return explicit
    if env.get("DOGCLI_CONFIG"):
        path = Path(env["DOGCLI_CONFIG"]).expanduser()
        if not path.is_file():
            raise SettingsError(f"config file not found: {path} (DOGCLI_CONFIG)")
        return path
    for candidate in (user_config_path(), SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"config file {path}: {exc.strerror}") from None
    # Accept both a flat file and a [dogcli] table.
    table = data.get("dogcli", data)
    if not isinstance(table, dict):
        raise SettingsError(f"config file {path}: [dogcli] must be a table")
    return {str(k).replace("-", "_").lower(): v for k, v in table.items()}


@dataclass(frozen=True)
class Source:
    """Where a setting's value came from: `kind` is default, file, env or option; `name` the
    file's path, the variable or the option (empty for a default)."""

    kind: str
    name: str = ""

    def __str__(self) -> str:
        return self.kind if not self.name else f"{self.kind} {self.name}"


DEFAULT = Source("default")
# DOGCLI_* variables that are not settings, so not misspellings of one.
OTHER_VARIABLES = frozenset({"DOGCLI_CONFIG", "DOGCLI_TEST_DATABASE_URL"})
_warned: set[str] = set()


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def config_file(config: Path | None = None, env: dict[str, str] | None = None) -> Path | None:
    """The TOML file load_settings reads (None: none)."""
    return _config_file(config, dict(os.environ) if env is None else env)


def load_settings(
    overrides: dict[str, Any] | None = None,
    config: Path | None = None,
    env: dict[str, str] | None = None,
    checks: Mapping[str, ItemCheck] | None = None,
) -> Settings:
    """Merge every source and validate; raises SettingsError with a one-line message.

    `checks` are what a higher layer adds to a list setting's own checks (jobs.config adds
    apprise's to alert_urls: config must not import ops), run on each item in turn."""
    return load_settings_with_sources(overrides, config, env, checks)[0]


def load_settings_with_sources(
    overrides: dict[str, Any] | None = None,
    config: Path | None = None,
    env: dict[str, str] | None = None,
    checks: Mapping[str, ItemCheck] | None = None,
) -> tuple[Settings, dict[str, Source]]:
    """load_settings, and for every setting where its value came from."""
    env = dict(os.environ) if env is None else env
    known = PARSERS
    raw: dict[str, tuple[str, Any]] = {}
    sources = dict.fromkeys(known, DEFAULT)

    path = _config_file(config, env)
    if path is not None:
        for key, value in _read_toml(path).items():
            if key not in known:
                raise SettingsError(f"config file {path}: unknown setting {key!r}")
            raw[key] = (f"{key} (in {path.name})", value)
            sources[key] = Source("file", str(path))
    for key in known:
        env_key = env_name(key)
        if env.get(env_key, "") != "":
            raw[key] = (env_key, env[env_key])
            sources[key] = Source("env", env_key)
    for key, value in (overrides or {}).items():
        if value is not None:
            option = "--" + key.replace("_", "-")
            raw[key] = (option, value)
            sources[key] = Source("option", option)
    _warn_unknown_variables(env)

    checks = checks or {}
    values = {
        key: known[key](label, value, check=checks[key])
        if key in checks
        else known[key](label, value)
        for key, (label, value) in raw.items()
    }
    settings = dataclasses.replace(Settings(), **values)
    if settings.disk_warn_percent > settings.disk_crit_percent:
        raise SettingsError("DOGCLI_DISK_WARN_PERCENT must not exceed DOGCLI_DISK_CRIT_PERCENT")
    if settings.stale_warn_minutes > settings.stale_crit_minutes:
        raise SettingsError("DOGCLI_STALE_WARN_MINUTES must not exceed DOGCLI_STALE_CRIT_MINUTES")
    return settings, sources


def unknown_variables(env: dict[str, str]) -> list[tuple[str, str | None]]:
    """(variable, the closest setting's variable or None) for each DOGCLI_* variable that
    is no setting: a misspelled one would otherwise be ignored without a word."""
    import difflib

    names = [env_name(key) for key in PARSERS]
    found = []
    for variable in sorted(env):
        if not variable.startswith(ENV_PREFIX) or variable in OTHER_VARIABLES:
            continue
        if variable in names:
            continue
        # Compared without the prefix, which every name shares and would make all look alike.
        suffix = variable[len(ENV_PREFIX) :].lower()
        close = difflib.get_close_matches(suffix, list(PARSERS), n=1, cutoff=0.7)
        found.append((variable, env_name(close[0]) if close else None))
    return found


def _warn_unknown_variables(env: dict[str, str]) -> None:
    for variable, close in unknown_variables(env):
        if variable in _warned:
            continue
        _warned.add(variable)
        hint = f"; did you mean {close}?" if close else ""
        logging.getLogger("dogcli.config").warning(
            "warning: %s is not a dogcli setting, ignored%s", variable, hint
        )

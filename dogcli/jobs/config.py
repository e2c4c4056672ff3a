"""dogcli config show / config init: the effective settings and where each came from, and a
commented starter file; and load_settings, the settings every command runs with: config's
own checks and those of the layers above it (an alert URL apprise cannot use)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogcli.config import (
    PARSERS,
    ItemCheck,
    Settings,
    config_file,
    env_name,
    load_settings_with_sources,
    user_config_path,
)
from dogcli.model.errors import UsageError
from dogcli.model.redact import mask_url, redact_url
from dogcli.ops.alert_urls import HOST_SCHEMES, check_alert_url

# Checks config cannot make itself, since they need ops and config sits below ops. Each
# raises the SettingsError config raised when it still made them, at the same point.
CHECKS: dict[str, ItemCheck] = {"alert_urls": check_alert_url}


def load_settings(
    overrides: dict[str, Any] | None = None,
    config: Path | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """config.load_settings with CHECKS: what the CLI loads for every command."""
    return load_settings_with_sources(overrides, config, env, CHECKS)[0]


# One line each for the starter file (README "Settings" has the long form).
DESCRIPTIONS: dict[str, str] = {
    "data_dir": "where images and the default SQLite catalog live",
    "database_url": "catalog URL; empty: SQLite in data_dir; or postgresql+psycopg://U:P@HOST/DB",
    "site_url": "base of the camera pages",
    "cdn_url": "base of image URLs",
    "terminal": "the terminal",
    "streams": "streams handled when a command names none",
    "timezone": "zone of the site's days, of 'today' and of reports",
    "url_timezone": "zone of the stamps in image URLs",
    "chrome_binary": "the browser; empty: chromium on PATH",
    "chromedriver": "its driver; empty: chromedriver on PATH",
    "concurrency": "parallel image downloads (1..32)",
    "batch_size": "catalog rows per insert batch (1..1000)",
    "max_retries": "retries per request, page and catalog call (0..20)",
    "retry_base": "first backoff in seconds; doubles each retry",
    "read_timeout": "seconds to wait for an image's bytes",
    "page_timeout": "seconds to wait for a page condition",
    "retention_days": "days `dogcli cleanup` keeps besides today",
    "settle_hours": "a day is read again until this long after it ended",
    "catchup_days": "fetch reads the unsettled days of this many days before today",
    "gap_crit_hours": "health: an incomplete day this long past its settle time is CRITICAL",
    "disk_warn_percent": "health: disk usage that is a WARNING",
    "disk_crit_percent": "health: disk usage that is CRITICAL",
    "stale_warn_minutes": "health: age of the newest capture that is a WARNING",
    "stale_crit_minutes": "health: age of the newest capture that is CRITICAL",
    "alert_urls": "alert targets: http(s):// webhooks, smtp(s)://host?to=ADDRESS",
    "metrics_file": "Prometheus textfile written by fetch, backfill, cleanup and health",
}


@dataclass(frozen=True)
class Entry:
    key: str
    variable: str  # its DOGCLI_* name
    value: Any  # JSON-ready, passwords and tokens masked
    source: str  # default, file, env or option
    origin: str  # the file, variable or option; empty for a default

    def shown(self) -> str:
        if self.value is None or self.value == "" or self.value == []:
            return "(unset)"
        if isinstance(self.value, list):
            return ",".join(str(v) for v in self.value)
        return str(self.value)


@dataclass(frozen=True)
class ConfigReport:
    config_file: Path | None
    entries: list[Entry]

    def as_json(self) -> dict[str, Any]:
        return {
            "config_file": str(self.config_file) if self.config_file else None,
            "settings": {
                e.key: {"value": e.value, "source": e.source, "from": e.origin or None}
                for e in self.entries
            },
        }


# Settings whose URLs carry secrets beyond a password: apprise tokens in the host, the path
# or the query (discord://ID/TOKEN, tgram://BOT:TOKEN/CHAT), a ping URL's path key.
_SECRET_URLS = frozenset({"alert_urls", "ping_url"})
HOST_SHOWN = 6  # characters shown of a host that may be a token (apprise's own schemes)


def _masked(value: Any, key: str = "") -> Any:
    if isinstance(value, tuple):
        return [_masked(v, key) for v in value]  # each URL of a list on its own
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and key in _SECRET_URLS and value:
        scheme = value.partition("://")[0].lower()
        return mask_url(value, None if scheme in HOST_SCHEMES else HOST_SHOWN)
    if isinstance(value, str):
        return redact_url(value)
    return value


def config_report(overrides: dict[str, Any], config: Path | None) -> ConfigReport:
    """Every setting's effective value (passwords masked) and its source."""
    settings, sources = load_settings_with_sources(overrides, config, checks=CHECKS)
    entries = []
    for field in dataclasses.fields(Settings):
        key = field.name
        value = getattr(settings, key)
        source = sources[key]
        entries.append(Entry(key, env_name(key), _masked(value, key), source.kind, source.name))
    return ConfigReport(config_file(config), entries)


def _toml_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps("" if value is None else str(value))  # a TOML basic string


def starter_toml() -> str:
    """Every setting, commented out at its default: uncomment what to change."""
    lines = [
        "# dogcli settings (`dogcli config init`). Every line is commented out at its default:",
        "# uncomment and edit what you change. Environment variables (DOGCLI_*) and command-",
        "# line options override this file; `dogcli config show` tells what is in effect.",
        "",
        "[dogcli]",
    ]
    defaults = Settings()
    for key in PARSERS:
        lines.append("")
        description = DESCRIPTIONS.get(key)
        if description:
            lines.append(f"# {description} ({env_name(key)})")
        else:
            lines.append(f"# {env_name(key)}")
        lines.append(f"# {key} = {_toml_value(getattr(defaults, key))}")
    return "\n".join(lines) + "\n"


def init_config(path: Path | None, force: bool) -> Path:
    """Write the starter file (default: the user config path); never over a file without
    `force`, and even then only over a dogcli config, never through a symlink. Written
    atomically; a new file is readable by its owner only (it may come to hold passwords), a
    file written over keeps its mode."""
    target = (path or user_config_path()).expanduser()
    if target.is_symlink():  # os.replace would swap the link; its target is not ours to judge
        raise UsageError(f"{target} is a symlink; give the file it points to, or another path")
    if target.is_dir():
        raise UsageError(f"{target} is a folder")
    mode = 0o600
    if target.exists():
        if not force:
            raise UsageError(f"{target} exists; give --force to overwrite it")
        mode = _overwritable(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(starter_toml())
            os.fchmod(handle.fileno(), mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _overwritable(target: Path) -> int:
    """The mode of an existing file `--force` may write over: a dogcli config (TOML whose keys
    are all settings, flat or under [dogcli]); UsageError for anything else (tried: a system
    file, which was overwritten and set to 0600)."""
    refused = f"{target} is not a dogcli config file"
    try:
        info = target.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{refused} (not a regular file); not overwritten")
        with target.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}; not overwritten") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise UsageError(f"{refused} (not TOML); not overwritten") from None
    table = data.get("dogcli", data) if set(data) <= {"dogcli"} else data
    if not isinstance(table, dict):
        raise UsageError(f"{refused} ([dogcli] is not a table); not overwritten")
    unknown = [str(k) for k in table if str(k).replace("-", "_").lower() not in PARSERS]
    if unknown:
        raise UsageError(f"{refused} (unknown setting {unknown[0]!r}); not overwritten")
    return stat.S_IMODE(info.st_mode)

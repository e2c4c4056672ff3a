"""dogcli config show / config init: the effective settings and where each came from, and a
commented starter file; and load_settings, the settings every command runs with: config's
own checks and those of the layers above it (an alert URL apprise cannot use)."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
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
from dogcli.model.redact import redact_url
from dogcli.ops.alert_urls import check_alert_url

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
    value: Any  # JSON-ready, passwords masked
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


def _masked(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_masked(v) for v in value]
    if isinstance(value, Path):
        return str(value)
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
        entries.append(Entry(key, env_name(key), _masked(value), source.kind, source.name))
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
    `force`. Written atomically, readable by its owner only (it may come to hold passwords)."""
    target = (path or user_config_path()).expanduser()
    if target.is_dir():
        raise UsageError(f"{target} is a folder")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; give --force to overwrite it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(starter_toml())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target

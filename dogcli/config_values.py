"""The value parsers, one per setting: each takes a raw value (TOML, environment, option) and
returns a plain value or raises SettingsError in one line. Checks that need more than the value
itself (apprise's, in ops) come from above as `checks` (see config.load_settings)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dogcli.model.captures import NAME_RE as NAME_RE
from dogcli.model.errors import SettingsError

# A check a higher layer adds to a list setting: (label, item), raises SettingsError.
ItemCheck = Callable[[str, str], None]


def _int_in(lo: int, hi: int) -> Any:
    def parse(key: str, value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise SettingsError(f"{key} must be a whole number, got {value!r}") from None
        if not lo <= number <= hi:
            raise SettingsError(f"{key} must be between {lo} and {hi}, got {number}")
        return number

    return parse


def _float_in(lo: float, hi: float) -> Any:
    def parse(key: str, value: Any) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise SettingsError(f"{key} must be a number, got {value!r}") from None
        if not lo <= number <= hi:
            raise SettingsError(f"{key} must be between {lo:g} and {hi:g}, got {number:g}")
        return number

    return parse


def _name(key: str, value: Any) -> str:
    text = str(value).strip()
    if not NAME_RE.match(text):
        raise SettingsError(f"{key} must be lowercase letters, digits or _, got {value!r}")
    return text


def _streams(key: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    streams = tuple(dict.fromkeys(_name(key, item) for item in items if str(item).strip()))
    if not streams:
        raise SettingsError(f"{key} must name at least one stream")
    return streams


def _cameras(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    cameras: dict[tuple[str, str], None] = {}
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        terminal, colon, stream = item.partition(":")
        if not colon:
            raise SettingsError(f"{key}: {item!r} is not TERMINAL:STREAM (e.g. apm:in_gate)")
        cameras[(_name(key, terminal), _name(key, stream))] = None
    return tuple(cameras)


def _http_url(key: str, value: Any) -> str:
    text = str(value).strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", text):
        raise SettingsError(f"{key} must be an http(s) URL, got {value!r}")
    fault = _host_fault(text)
    if fault:
        raise SettingsError(f"{key} must be an http(s) URL, got {value!r} ({fault})")
    return text


def _host_fault(url: str) -> str:
    """Why url's host or port cannot be used, else "". `http://[::1` and a port of 99999
    match the pattern above, and failed only at the first request, as every page's error."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError: not a number, or out of 0..65535
    except ValueError:
        return "bad host or port"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    return ""


def _timezone(key: str, value: Any) -> str:
    text = str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{key}: unknown time zone {value!r}") from None
    return text


def _database_url(key: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        return ""
    if not re.match(r"^[a-z][a-z0-9+]*://", text):
        # Not echoed: a mangled URL may be mostly password.
        raise SettingsError(
            f"{key} is not a database URL (expected sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST/DB)"
        )
    scheme = text.split("://", 1)[0].split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise SettingsError(f"{key}: unsupported database {scheme!r} (use sqlite or postgresql)")
    return text


def _path(key: str, value: Any) -> Path:
    text = str(value).strip()
    if not text:
        raise SettingsError(f"{key} must not be empty")
    return Path(text).expanduser()


def _optional_path(key: str, value: Any) -> Path | None:
    text = str(value).strip()
    return Path(text).expanduser() if text else None


def alert_scheme(url: str) -> str:
    """An alert URL's scheme, lowercase; empty when it is not SCHEME://…"""
    match = re.match(r"^([a-z][a-z0-9+.-]*)://\S+$", url, re.I)
    return match.group(1).lower() if match else ""


def _alert_urls(key: str, value: Any, check: ItemCheck | None = None) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    urls = tuple(str(item).strip() for item in items if str(item).strip())
    for url in urls:
        # The URL may carry a password or a token: errors name only its scheme.
        scheme = alert_scheme(url)
        if not scheme:
            raise SettingsError(
                f"{key}: an alert target is not a URL (expected SCHEME://…, e.g. "
                "ntfy://TOPIC, mailto://…, https://HOOK; see README, Alerts)"
            )
        parts = urlsplit(url)
        if scheme in ("smtp", "smtps") and not (parts.hostname and "to" in parse_qs(parts.query)):
            raise SettingsError(f"{key}: an {scheme}:// alert target needs a host and ?to=ADDRESS")
        if check is not None:  # each URL in turn, as its first fault is the one reported
            check(key, url)
    return urls


def _ping_url(key: str, value: Any) -> str:
    text = str(value).strip()
    if text and (not re.match(r"^https?://[^/\s]+(/\S*)?$", text) or _host_fault(text)):
        # Not echoed: a ping URL's path is the check's secret key.
        raise SettingsError(f"{key} must be an http(s) URL (https://hc-ping.com/UUID)")
    return text


def _text(key: str, value: Any) -> str:
    return str(value).strip()


PARSERS: dict[str, Any] = {
    "data_dir": _path,
    "database_url": _database_url,
    "site_url": _http_url,
    "cdn_url": _http_url,
    "terminal": _name,
    "streams": _streams,
    "cameras": _cameras,
    "timezone": _timezone,
    "url_timezone": _timezone,
    "chrome_binary": _text,
    "chromedriver": _text,
    "concurrency": _int_in(1, 32),
    "batch_size": _int_in(1, 1000),
    "max_retries": _int_in(0, 20),
    "retry_base": _float_in(0, 60),
    "read_timeout": _float_in(0.1, 600),
    "page_timeout": _float_in(1, 600),
    "retention_days": _int_in(1, 36500),
    "settle_hours": _float_in(0, 240),
    "catchup_days": _int_in(0, 366),
    "gap_crit_hours": _float_in(0, 8760),
    "disk_warn_percent": _float_in(1, 100),
    "disk_crit_percent": _float_in(1, 100),
    "stale_warn_minutes": _float_in(1, 525600),
    "stale_crit_minutes": _float_in(1, 525600),
    "alert_urls": _alert_urls,
    "ping_url": _ping_url,
    "metrics_file": _optional_path,
}

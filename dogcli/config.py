"""Settings: defaults < TOML file < environment (DOGCLI_*) < command-line options."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import socket
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dogcli.model.captures import Zones
from dogcli.model.errors import SettingsError, UsageError

ENV_PREFIX = "DOGCLI_"
SYSTEM_CONFIG = Path("/etc/dogcli/config.toml")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


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

    def per_terminal(self, picked: Sequence[str] = ()) -> list[Settings]:
        """These settings once per terminal, each with that terminal's streams among those
        `picked` (`S` or `TERMINAL:S`; none: all); a terminal with none is left out, a name
        no camera has is a usage error."""
        cameras = self.camera_list
        known = {f"{t}:{s}" for t, s in cameras} | {s for _t, s in cameras}
        unknown = [p for p in dict.fromkeys(picked) if p not in known]
        if unknown:
            raise UsageError(
                f"unknown stream {unknown[0]!r} (known: {', '.join(self._camera_names())}; "
                "set DOGCLI_STREAMS or DOGCLI_CAMERAS to add one)"
            )
        chosen = [(t, s) for t, s in cameras if not picked or s in picked or f"{t}:{s}" in picked]
        return [
            dataclasses.replace(
                self, terminal=t, streams=tuple(s for ct, s in chosen if ct == t), cameras=()
            )
            for t in dict.fromkeys(t for t, _s in chosen)
        ]

    def _camera_names(self) -> list[str]:
        if len(self.terminals) == 1:
            return [s for _t, s in self.camera_list]
        return [f"{t}:{s}" for t, s in self.camera_list]

    def browser_paths(self) -> tuple[str, str]:
        """Browser and driver executables; never downloaded at run time."""
        binary = self.chrome_binary or _which("chromium", "chromium-browser", "google-chrome")
        driver = self.chromedriver or _which("chromedriver")
        if not binary:
            raise SettingsError("chromium not found on PATH; set DOGCLI_CHROME_BINARY")
        if not driver:
            raise SettingsError("chromedriver not found on PATH; set DOGCLI_CHROMEDRIVER")
        for label, path in (("DOGCLI_CHROME_BINARY", binary), ("DOGCLI_CHROMEDRIVER", driver)):
            if not os.access(path, os.X_OK):
                raise SettingsError(f"{label}: {path} is not an executable file")
        return binary, driver


def sqlite_url(path: Path) -> str:
    """The SQLite URL of a file, whatever its path holds: `%41`, `?`, `#`, spaces, unicode are
    escaped (an f-string made `pct%41dir` into `pctAdir` and `q?dir=1` into a file `q`)."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def _which(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return ""


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
    return text


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


# dogcli's own alert URLs from before apprise; every other scheme is apprise's.
LEGACY_ALERT_SCHEMES = ("http", "https", "smtp", "smtps")


def alert_target(url: str) -> str:
    """An alert URL as apprise takes it. dogcli's earlier forms are translated:
    `smtp(s)://[user:password@]host[:port]?to=A,B[&from=F][&starttls=yes]` to apprise's
    `mailto(s)://` (always naming the server: `smtp=host`, so that apprise's provider templates
    never pick another one), `http(s)://` to a JSON POST (`json(s)://`, the URL's query
    passed on as query, not as apprise options). Anything else is an apprise URL already."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = parse_qsl(parts.query, keep_blank_values=True)
    netloc = parts.netloc
    if scheme in ("http", "https"):
        passed = [("-" + key, value) for key, value in query]
        new_scheme = "json" if scheme == "http" else "jsons"
        return urlunsplit((new_scheme, netloc, parts.path or "/", urlencode(passed), ""))
    if scheme in ("smtp", "smtps"):
        options = dict(query)
        host = parts.hostname or ""
        implicit_tls = scheme == "smtps"
        starttls = options.pop("starttls", "").lower() in ("1", "yes", "true")
        port = parts.port or (465 if implicit_tls else 25)
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        userinfo = netloc.rpartition("@")[0]
        netloc = f"{userinfo + '@' if userinfo else ''}{host}:{port}"
        options.setdefault("from", _default_sender())
        options["smtp"] = parts.hostname or ""
        if implicit_tls or starttls:
            options["mode"] = "ssl" if implicit_tls else "starttls"
        new_scheme = "mailtos" if implicit_tls or starttls else "mailto"
        return urlunsplit((new_scheme, netloc, "/", urlencode(options, safe="@,"), ""))
    return url


def _default_sender() -> str:
    """dogcli@this-host, or dogcli@localhost where apprise refuses the host's name (`vm`)."""
    from apprise.utils.parse import is_email

    sender = f"dogcli@{socket.gethostname()}"
    return sender if is_email(sender) else "dogcli@localhost"  # type: ignore[no-untyped-call]


def alert_service(url: str) -> Any:
    """The apprise service of an alert URL, None when apprise cannot use it. An http(s) URL
    that apprise knows as a service's own (Slack's, Discord's, Teams' webhook URLs) goes to
    that service, as the earlier webhook's `text` field did; any other becomes a JSON POST."""
    import apprise

    quiet_apprise()
    if urlsplit(url).scheme.lower() in ("http", "https"):
        native = apprise.Apprise.instantiate(url)
        if native is not None:
            return native
    return apprise.Apprise.instantiate(alert_target(url))


def quiet_apprise() -> None:
    """apprise logs through its own logger, URLs and all; dogcli says what happened itself."""
    logger = logging.getLogger("apprise")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def alert_target_name(url: str) -> str:
    """How logs name an alert target: scheme and host where the host is a server's name
    (webhooks, mail), only the scheme where apprise puts tokens in the host (tgram://TOKEN)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in HOST_SCHEMES:
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{scheme}://{parts.hostname or ''}{port}"
    return f"{scheme}://"


HOST_SCHEMES = frozenset(
    ("http", "https", "smtp", "smtps", "mailto", "mailtos", "json", "jsons", "form", "forms",
     "xml", "xmls")
)  # fmt: skip


def _alert_urls(key: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    urls = tuple(str(item).strip() for item in items if str(item).strip())
    for url in urls:
        # The URL may carry a password or a token: errors name only its scheme.
        match = re.match(r"^([a-z][a-z0-9+.-]*)://\S+$", url, re.I)
        scheme = match.group(1).lower() if match else ""
        if not scheme:
            raise SettingsError(
                f"{key}: an alert target is not a URL (expected SCHEME://…, e.g. "
                "ntfy://TOPIC, mailto://…, https://HOOK; see README, Alerts)"
            )
        parts = urlsplit(url)
        if scheme in ("smtp", "smtps") and not (parts.hostname and "to" in parse_qs(parts.query)):
            raise SettingsError(f"{key}: an {scheme}:// alert target needs a host and ?to=ADDRESS")
        try:
            service = alert_service(url)
        except ValueError:  # a port that is not a number, a broken IPv6 literal
            service = None
        if service is None:
            raise SettingsError(
                f"{key}: unsupported alert target {scheme}:// (not a URL apprise can use: "
                "see https://github.com/caronc/apprise/wiki)"
            )
    return urls


def _ping_url(key: str, value: Any) -> str:
    text = str(value).strip()
    if text and not re.match(r"^https?://[^/\s]+(/\S*)?$", text):
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
) -> Settings:
    """Merge every source and validate; raises SettingsError with a one-line message."""
    return load_settings_with_sources(overrides, config, env)[0]


def load_settings_with_sources(
    overrides: dict[str, Any] | None = None,
    config: Path | None = None,
    env: dict[str, str] | None = None,
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

    values = {key: known[key](label, value) for key, (label, value) in raw.items()}
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
    import logging

    for variable, close in unknown_variables(env):
        if variable in _warned:
            continue
        _warned.add(variable)
        hint = f"; did you mean {close}?" if close else ""
        logging.getLogger("dogcli.config").warning(
            "warning: %s is not a dogcli setting, ignored%s", variable, hint
        )

"""Alert URLs as apprise takes them: dogcli's earlier smtp(s):// and http(s):// forms translated,
the apprise service of a URL, how logs name a target, and the settings check that refuses a
URL apprise cannot use. apprise is imported only inside functions: loading it is slow."""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dogcli.config_values import alert_scheme
from dogcli.model.errors import SettingsError

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


def check_alert_url(key: str, url: str) -> None:
    """A settings check (config's `checks`, passed in by jobs.config): SettingsError when
    apprise cannot use url. It runs after config's own checks of the URL's form, on each URL
    in turn; the error names only the scheme, as the URL may carry a password or a token."""
    try:
        service = alert_service(url)
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        service = None
    if service is None:
        raise SettingsError(
            f"{key}: unsupported alert target {alert_scheme(url)}:// (not a URL apprise can use: "
            "see https://github.com/caronc/apprise/wiki)"
        )

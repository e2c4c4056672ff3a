"""The heartbeat (DOGCLI_PING_URL), healthchecks.io's convention: URL/start once a run holds
the lock, then URL/0 or URL/fail with the summary. A dead receiver is logged and never fails
the run; no log names more of the URL than its host (the rest is the check's secret key)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dogcli import __version__

log = logging.getLogger(__name__)
PING_TIMEOUT = (3.05, 5.0)  # connect, read: a heartbeat must never hold up the run
PING_BODY_LIMIT = 10_000  # healthchecks.io keeps the first 100 kB of a body
PING_PATHS = {"start": "/start", "success": "/0", "fail": "/fail"}


def ping_url(url: str, event: str, run_id: str = "") -> str:
    """healthchecks.io's convention: URL/start, URL/0 (success), URL/fail; `rid` pairs a
    start with its end when two runs share one check."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if run_id:
        query.append(("rid", run_id))
    path = parts.path.rstrip("/") + PING_PATHS[event]
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def ping(url: str, event: str, body: str = "", run_id: str = "") -> bool:
    """One heartbeat ping; True when the receiver took it. Never raises, never logs more of
    the URL than its host (the rest is the check's secret key)."""
    import requests

    host = urlsplit(url).hostname or ""
    try:
        response = requests.post(
            ping_url(url, event, run_id),
            data=body[:PING_BODY_LIMIT].encode(),
            headers={"User-Agent": f"dogcli/{__version__}",
                     "Content-Type": "text/plain; charset=utf-8"},
            timeout=PING_TIMEOUT,
        )  # fmt: skip
    except requests.Timeout:
        log.warning("heartbeat %s to %s failed: timed out", event, host)
        return False
    except Exception as exc:  # requests' messages quote the whole URL: name only the kind
        log.warning("heartbeat %s to %s failed: %s", event, host, type(exc).__name__)
        return False
    if response.status_code >= 300:
        log.warning("heartbeat %s to %s failed: HTTP %d", event, host, response.status_code)
        return False
    return True

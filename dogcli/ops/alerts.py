"""Alerts on a change of state (failure, then recovery) through apprise.

An unreachable target is logged and never fails the run. State lives in
{DATA_DIR}/.alerts.json so that a failing fetch every 10 minutes alerts once. apprise is
imported only where alert URLs are set: loading its plugins is slow (README, Alerts).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlsplit

from dogcli.model.redact import redact_url
from dogcli.ops.alert_urls import HOST_SCHEMES, alert_service, alert_target_name
from dogcli.storage.local import write_file_atomic

log = logging.getLogger(__name__)
STATE_FILE = ".alerts.json"


def _load_state(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def notify_change(
    urls: tuple[str, ...], data_dir: Path, key: str, failing: bool, subject: str, body: str
) -> str | None:
    """Send when `key` turns failing, or recovers; returns "failure"/"recovery" if sent.

    The new state is saved only once the alert reached a target (or there is none to
    reach): saved before, a failed delivery meant the change was never announced, since
    every later run found the state already changed. So an undelivered alert is tried
    again by the next run."""
    path = data_dir / STATE_FILE
    state = _load_state(path)
    was_failing = state.get(key) == "failing"
    if failing == was_failing:
        return None
    kind = "failure" if failing else "recovery"
    if urls:
        title = f"dogcli {kind}: {subject}" if failing else f"dogcli recovered: {subject}"
        if send(urls, title, body, kind) == 0:
            log.warning("%s alert not delivered; the next run tries again", kind)
            return None
    state[key] = "failing" if failing else "ok"
    if data_dir.is_dir():
        try:
            write_file_atomic(path, (json.dumps(state, indent=2) + "\n").encode())
        except Exception as exc:  # never fail the run over alert bookkeeping
            log.warning("cannot save alert state: %s", exc)
    return kind


class _AppriseSaid(logging.Handler):
    """What apprise said while delivering: its last warning is why a delivery failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.last = record.getMessage()
        except Exception:
            self.last = str(record.msg)

    def __enter__(self) -> _AppriseSaid:
        logging.getLogger("apprise").addHandler(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        logging.getLogger("apprise").removeHandler(self)


def send(urls: tuple[str, ...], subject: str, body: str, kind: str) -> int:
    """Deliver to every target; returns how many took it. Failures are logged, never raised."""
    from apprise import NotifyType

    notify_type = NotifyType.FAILURE if kind == "failure" else NotifyType.SUCCESS
    delivered = 0
    for url in urls:
        try:
            service = alert_service(url)
            if service is None:
                raise ValueError("not a URL apprise can use")
            with _AppriseSaid() as said:
                ok = service.notify(body=body, title=subject, notify_type=notify_type)
            if not ok:
                raise RuntimeError(said.last or "not delivered")
            delivered += 1
        except Exception as exc:
            reason = scrub(str(exc), url) or type(exc).__name__
            log.warning("alert to %s failed: %s", alert_target_name(url), reason)
    return delivered


def scrub(text: str, url: str) -> str:
    """text without any secret part of url: its user and password, its path and query values
    (webhook tokens live there), and its host where that is a token (tgram://TOKEN/…)."""
    try:
        parts = urlsplit(url)
        userinfo, _at, hostport = parts.netloc.rpartition("@")
        pieces = {userinfo, *userinfo.split(":"), parts.username or "", parts.password or ""}
        if parts.scheme.lower() not in HOST_SCHEMES:  # tgram://BOT:TOKEN/…: each part alone too
            pieces |= {parts.netloc, hostport, *re.split(r"[:@]", parts.netloc)}
        pieces |= set(parts.path.split("/")) | {parts.fragment}
        pieces |= {value for _key, value in parse_qsl(parts.query)}
    except ValueError:
        return "(reason withheld)"
    pieces |= {unquote(piece) for piece in pieces}
    for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
        text = text.replace(piece, "***")
    return redact_url(text)

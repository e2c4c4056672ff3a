"""Alerts on a change of state (failure, then recovery), to webhooks and SMTP.

An unreachable target is logged and never fails the run. State lives in
{DATA_DIR}/.alerts.json so that a failing fetch every 10 minutes alerts once.
"""

from __future__ import annotations

import json
import logging
import smtplib
import socket
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dogcli import __version__
from dogcli.redact import redact_url
from dogcli.storage import write_file_atomic

log = logging.getLogger(__name__)
STATE_FILE = ".alerts.json"
TIMEOUT = 10.0


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


def send(urls: tuple[str, ...], subject: str, body: str, kind: str) -> int:
    """Deliver to every target; returns how many took it. Failures are logged, never raised."""
    delivered = 0
    for url in urls:
        try:
            scheme = urlsplit(url).scheme.lower()
            if scheme in ("http", "https"):
                _webhook(url, subject, body, kind)
            elif scheme in ("smtp", "smtps"):
                _email(url, subject, body)
            else:
                raise ValueError(f"unsupported alert target {scheme}://")
            delivered += 1
        except Exception as exc:
            log.warning("alert to %s failed: %s", _target(url), redact_url(str(exc)) or type(exc))
    return delivered


def _target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"


def _webhook(url: str, subject: str, body: str, kind: str) -> None:
    import requests

    payload: dict[str, Any] = {
        "text": f"{subject}\n{body}",
        "subject": subject,
        "body": body,
        "status": kind,
        "host": socket.gethostname(),
        "source": f"dogcli/{__version__}",
    }
    response = requests.post(url, json=payload, timeout=TIMEOUT)
    response.raise_for_status()


def _email(url: str, subject: str, body: str) -> None:
    """smtp[s]://[user:password@]host[:port]?to=a@x,b@y[&from=dogcli@host][&starttls=yes]"""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    recipients = [r.strip() for r in query.get("to", "").split(",") if r.strip()]
    if not recipients or not parts.hostname:
        raise ValueError("an smtp alert target needs a host and ?to=ADDRESS")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = query.get("from") or f"dogcli@{socket.gethostname()}"
    message["To"] = ", ".join(recipients)
    message.set_content(body + "\n")
    implicit_tls = parts.scheme.lower() == "smtps"
    port = parts.port or (465 if implicit_tls else 25)
    smtp: smtplib.SMTP
    if implicit_tls:
        smtp = smtplib.SMTP_SSL(parts.hostname, port, timeout=TIMEOUT,
                                context=ssl.create_default_context())  # fmt: skip
    else:
        smtp = smtplib.SMTP(parts.hostname, port, timeout=TIMEOUT)
    with smtp:
        if not implicit_tls and query.get("starttls", "").lower() in ("1", "yes", "true"):
            smtp.starttls(context=ssl.create_default_context())
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)

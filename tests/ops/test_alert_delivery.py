"""Alerts through apprise: a damaged catalog fails fetch loudly (outcome failed, an alert),
alert state changes only once an alert was delivered, dogcli's earlier smtp(s):// and http(s)://
targets and apprise's own URLs reach real receivers, and no secret reaches a log."""

from __future__ import annotations

import base64
import email
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dogcli.jobs.config import load_settings
from dogcli.model.errors import SettingsError
from dogcli.model.status import ExitStatus
from dogcli.ops.alerts import STATE_FILE, notify_change

GARBAGE = b"this is not a database, it was overwritten by something else\n" * 100


@dataclass
class Receiver:
    """A real webhook receiver on loopback; answers `status` (500 until told otherwise)."""

    url: str = ""
    status: int = 500
    received: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path, headers

    @property
    def netloc(self) -> str:
        return self.url.split("/")[2]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            box.requests.append((self.path, dict(self.headers.items())))
            box.received.append(body)
            if box.status < 300:
                box.accepted.append(body)
            self.send_response(box.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield box
    server.shutdown()
    server.server_close()


def test_state_changes_only_after_a_delivery(tmp_path: Path, receiver: Receiver) -> None:
    urls = (receiver.url,)
    state = tmp_path / STATE_FILE
    assert notify_change(urls, tmp_path, "fetch", True, "fetch failed", "body") is None
    assert len(receiver.received) == 1 and not state.exists()  # refused: not announced yet
    assert notify_change(urls, tmp_path, "fetch", True, "fetch failed", "body") is None
    assert len(receiver.received) == 2  # tried again
    receiver.status = 204
    assert notify_change(urls, tmp_path, "fetch", True, "fetch failed", "body") == "failure"
    assert json.loads(state.read_text()) == {"fetch": "failing"}
    assert notify_change(urls, tmp_path, "fetch", True, "fetch failed", "body") is None
    assert len(receiver.received) == 3  # announced once: nothing more
    receiver.status = 503
    assert notify_change(urls, tmp_path, "fetch", False, "fetch", "fine") is None
    assert json.loads(state.read_text()) == {"fetch": "failing"}
    receiver.status = 200
    assert notify_change(urls, tmp_path, "fetch", False, "fetch", "fine") == "recovery"
    assert json.loads(state.read_text()) == {"fetch": "ok"}
    assert [a["type"] for a in receiver.accepted] == ["failure", "success"]


def test_one_reachable_target_is_enough(tmp_path: Path, receiver: Receiver) -> None:
    receiver.status = 200
    urls = ("http://127.0.0.1:9/unreachable", receiver.url)
    assert notify_change(urls, tmp_path, "health", True, "health critical", "x") == "failure"
    assert json.loads((tmp_path / STATE_FILE).read_text()) == {"health": "failing"}


def test_no_target_still_tracks_the_state(tmp_path: Path) -> None:
    assert notify_change((), tmp_path, "fetch", True, "fetch failed", "x") == "failure"
    assert notify_change((), tmp_path, "fetch", True, "fetch failed", "x") is None


@pytest.mark.parametrize("damage", ["garbage", "directory"])
def test_a_damaged_catalog_fails_fetch_and_alerts(
    damage: str,
    tmp_path: Path,
    cli: Any,
    receiver: Receiver,
    chromium: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    catalog = data_dir / "dogcli.db"
    if damage == "garbage":
        catalog.write_bytes(GARBAGE)
    else:
        catalog.mkdir()
    for key, value in {
        "DOGCLI_DATA_DIR": str(data_dir),
        "DOGCLI_SITE_URL": "http://127.0.0.1:9",  # never reached: the run stops before
        "DOGCLI_CHROME_BINARY": chromium[0],
        "DOGCLI_CHROMEDRIVER": chromium[1],
        "DOGCLI_ALERT_URLS": receiver.url,
        "DOGCLI_RETRY_BASE": "0.01",
    }.items():
        monkeypatch.setenv(key, value)

    receiver.status = 500  # the first alert is refused: the next run sends it again
    for expected_alerts in (1, 2):
        ran = cli("fetch")
        assert ran.code == ExitStatus.FAILURE, ran.err
        assert f"catalog {catalog}" in ran.err and "verify --repair" in ran.err
        assert "Traceback" not in ran.err
        assert len(receiver.received) == expected_alerts
    receiver.status = 204
    ran = cli("fetch")
    assert ran.code == ExitStatus.FAILURE
    assert [a["type"] for a in receiver.accepted] == ["failure"]
    assert str(catalog) in receiver.accepted[0]["message"]
    assert cli("fetch").code == ExitStatus.FAILURE
    assert len(receiver.received) == 3  # still failing: announced once

    # Nothing was downloaded, and the damaged file is left as it was for inspection.
    assert not (data_dir / "images").exists()
    if damage == "garbage":
        assert catalog.read_bytes() == GARBAGE
    health = cli("health", "--json")
    assert health.code == 2
    assert json.loads(health.out)["checks"][0]["status"] == "critical"


# -- apprise: the shapes it delivers, the targets it takes ---------------------------------------


def test_a_webhook_gets_apprises_json(tmp_path: Path, receiver: Receiver) -> None:
    """An http(s):// target (dogcli's form before apprise) is apprise's JSON POST: README's
    shape; its query parameters and user:password still reach the receiver."""
    receiver.status = 200
    url = f"http://hook:pw@{receiver.netloc}/hook?token=abc&team=ops"
    assert notify_change((url,), tmp_path, "fetch", True, "fetch failed", "line 1\nline 2")
    (body,) = receiver.received
    assert body == {"version": "1.0", "title": "dogcli failure: fetch failed",
                    "message": "line 1\nline 2", "attachments": [], "type": "failure"}  # fmt: skip
    path, headers = receiver.requests[0]
    assert path.split("?")[0] == "/hook"
    assert sorted(path.split("?")[1].split("&")) == ["team=ops", "token=abc"]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"hook:pw").decode()


def test_any_apprise_url_is_taken(tmp_path: Path, receiver: Receiver) -> None:
    """apprise's own schemes directly: ntfy (self-hosted, here the receiver) and json://."""
    receiver.status = 200
    urls = (f"ntfy://{receiver.netloc}/dogcli-alerts", f"json://{receiver.netloc}/j")
    assert notify_change(urls, tmp_path, "health", True, "health critical", "disk 95%")
    ntfy, plain = receiver.received
    assert ntfy["topic"] == "dogcli-alerts" and ntfy["message"] == "disk 95%"
    assert ntfy["title"] == "dogcli failure: health critical"
    assert plain["type"] == "failure" and receiver.requests[1][0] == "/j"


@pytest.fixture
def mailbox() -> Iterator[tuple[int, list[Any]]]:
    """A real SMTP server (aiosmtpd) on loopback."""
    from aiosmtpd.controller import Controller

    mails: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mails.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mails
    controller.stop()


@pytest.mark.parametrize(
    "form",
    [
        "smtp://127.0.0.1:{port}?to=ops@example.com,oncall@example.org&from=dogcli@example.com",
        "mailto://127.0.0.1:{port}?to=ops@example.com,oncall@example.org&from=dogcli@example.com"
        "&smtp=127.0.0.1",
    ],
    ids=["smtp-legacy", "mailto-apprise"],
)
def test_mail_through_apprise(
    form: str, tmp_path: Path, mailbox: tuple[int, list[Any]], receiver: Receiver
) -> None:
    port, mails = mailbox
    url = form.format(port=port)
    assert notify_change((url,), tmp_path, "fetch", True, "fetch failed", "no page read")
    # apprise sends each recipient a mail of its own.
    assert sorted(r for mail in mails for r in mail.rcpt_tos) == [
        "oncall@example.org", "ops@example.com"]  # fmt: skip
    for mail in mails:
        assert mail.mail_from == "dogcli@example.com"
        message = email.message_from_bytes(mail.content)
        assert message["Subject"] == "dogcli failure: fetch failed"
        parts = [p for p in message.walk() if not p.is_multipart()]
        assert any("no page read" in p.get_payload(decode=True).decode() for p in parts)
    assert notify_change((url,), tmp_path, "fetch", False, "fetch", "fine") == "recovery"
    assert len(mails) == 4
    assert email.message_from_bytes(mails[-1].content)["Subject"] == "dogcli recovered: fetch"


@pytest.fixture
def alert_log() -> Iterator[list[str]]:
    """What dogcli.ops.alerts logs (the dogcli logger may not propagate to pytest's handler)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep()
    logger = logging.getLogger("dogcli.ops.alerts")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_a_failed_delivery_logs_no_secret(
    tmp_path: Path, receiver: Receiver, alert_log: list[str]
) -> None:
    receiver.status = 403
    urls = (
        f"http://hook:Pa55word@{receiver.netloc}/services/T0kenInPath?key=K3yInQuery",
        "json://user:Pa55word@127.0.0.1:9/T0kenInPath",  # nothing listens on port 9
    )
    assert notify_change(urls, tmp_path, "fetch", True, "fetch failed", "x") is None
    assert len(receiver.received) == 1
    refused, unreachable = (line for line in alert_log if line.startswith("alert to"))
    assert refused.startswith(f"alert to http://{receiver.netloc} failed: ")
    assert "403" in refused or "Forbidden" in refused
    assert unreachable.startswith("alert to json://127.0.0.1:9 failed: ")
    for secret in ("Pa55word", "T0kenInPath", "K3yInQuery"):
        assert not [line for line in alert_log if secret in line], alert_log


@pytest.mark.parametrize(
    "value",
    [
        "ntfy://dogcli-alerts",
        "ntfys://ntfy.example.com/dogcli",
        "tgram://123456789:AAbbCCddEEff/12315544/",
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "smtp://mail.example.com?to=ops@example.com",
        "smtps://user:pw@mail.example.com?to=ops@example.com",
        "mailtos://user:pw@example.com",
        "https://example.com/hook,json://127.0.0.1/x",
    ],
)
def test_settings_take_apprise_urls(value: str) -> None:
    assert load_settings(env={"DOGCLI_ALERT_URLS": value}).alert_urls == tuple(value.split(","))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ops@example.com", "an alert target is not a URL"),
        ("ftp://bob:s3cret@mail", "unsupported alert target ftp://"),
        ("nosuchservice://s3cret", "unsupported alert target nosuchservice://"),
        ("slack://s3cret", "unsupported alert target slack://"),
        ("smtp://mail.example.com", "an smtp:// alert target needs a host and ?to=ADDRESS"),
        ("http://host:port/s3cret", "unsupported alert target http://"),
    ],
)
def test_settings_refuse_junk_in_one_line(value: str, message: str, cli: Any) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"DOGCLI_ALERT_URLS": value})
    assert message in str(caught.value) and "s3cret" not in str(caught.value)
    os.environ["DOGCLI_ALERT_URLS"] = value  # undone by clean_env's monkeypatch
    ran = cli("stats")
    assert ran.code == ExitStatus.USAGE
    assert len(ran.err.strip().splitlines()) == 1 and message in ran.err
    assert "Traceback" not in ran.err and "s3cret" not in ran.err


def test_help_does_not_import_apprise(tmp_path: Path) -> None:
    """apprise is slow to load (README, Alerts): only a run that sends an alert pays for it."""
    probe = (
        "import sys\nfrom dogcli.cli.app import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('apprise' in sys.modules)"
    )
    for args in (["--help"], ["fetch", "--help"]):
        ran = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60,
            env={**os.environ, "DOGCLI_DATA_DIR": str(tmp_path)},
        )  # fmt: skip
        assert ran.stdout.strip().splitlines()[-1] == "False", ran.stderr

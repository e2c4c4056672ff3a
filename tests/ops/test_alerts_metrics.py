"""Alerts on a change of state only, through real servers; the metrics file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.pgserver import free_port


@dataclass
class Inbox:
    mails: list[Any] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    smtp_url: str = ""
    webhook_url: str = ""


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) and a real webhook receiver, on loopback."""
    from aiosmtpd.controller import Controller

    box = Inbox()

    class MailHandler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.mails.append(envelope)
            return "250 OK"

    smtp_port = free_port()
    controller = Controller(MailHandler(), hostname="127.0.0.1", port=smtp_port)
    controller.start()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            box.hooks.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.smtp_url = f"smtp://127.0.0.1:{smtp_port}?to=ops@example.com&from=dogcli@example.com"
    box.webhook_url = f"http://127.0.0.1:{server.server_port}/hook"
    yield box
    server.shutdown()
    controller.stop()


def test_alerts_on_failure_and_recovery_only(
    make_site: Any, cli: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(days=1)
    monkeypatch.setenv("DOGCLI_ALERT_URLS", f"{inbox.smtp_url},{inbox.webhook_url},"
                                            "http://127.0.0.1:9/unreachable")  # fmt: skip
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "0")
    monkeypatch.setenv("DOGCLI_PAGE_TIMEOUT", "3")
    good_site = site.env["DOGCLI_SITE_URL"]
    monkeypatch.setenv("DOGCLI_SITE_URL", "http://127.0.0.1:9")  # the site is down

    first = cli("fetch", "-s", "in_gate")
    assert first.code == 1
    assert "alert to http://127.0.0.1:9 failed" in first.err  # logged, not fatal
    assert len(inbox.mails) == 1 and len(inbox.hooks) == 1
    assert "fetch failed" in inbox.hooks[0]["title"] and inbox.hooks[0]["type"] == "failure"
    assert b"Subject: dogcli failure: fetch failed" in inbox.mails[0].content
    assert cli("fetch", "-s", "in_gate").code == 1  # still failing: no second alert
    assert (len(inbox.mails), len(inbox.hooks)) == (1, 1)

    monkeypatch.setenv("DOGCLI_SITE_URL", good_site)
    monkeypatch.setenv("DOGCLI_PAGE_TIMEOUT", "15")
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "2")
    assert cli("fetch", "-s", "in_gate").code == 0
    assert (len(inbox.mails), len(inbox.hooks)) == (2, 2)
    assert inbox.hooks[1]["type"] == "success" and "recovered" in inbox.hooks[1]["title"]
    assert cli("fetch", "-s", "in_gate").code == 0  # still fine: nothing more
    assert (len(inbox.mails), len(inbox.hooks)) == (2, 2)


def test_metrics_file_parses_with_prometheus_client(
    make_site: Any, cli: Any, tmp_path: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    site = make_site(days=1)
    metrics = tmp_path / "textfile" / "dogcli.prom"
    ran = cli("fetch", "-s", "out_gate", "--metrics-file", str(metrics))
    assert ran.code == 0, ran.err
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    stored = len(site.replica.expected("out_gate", site.today))
    assert samples[("dogcli_archive_captures", (("stream", "out_gate"),))] == stored
    last_ok = samples[("dogcli_last_success_timestamp_seconds",
                       (("command", "fetch"), ("stream", "out_gate")))]  # fmt: skip
    assert abs(last_ok - datetime.now(UTC).timestamp()) < 600
    assert samples[("dogcli_last_run_outcome", (("command", "fetch"), ("outcome", "ok")))] == 1
    assert samples[("dogcli_last_run_duration_seconds", (("command", "fetch"),))] > 0
    assert not list(metrics.parent.glob(".tmp-*"))

    ran = cli("health", "--metrics-file", str(metrics))
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    assert families["dogcli_health_status"].samples[0].value == ran.code

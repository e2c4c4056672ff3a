"""A damaged catalog fails fetch loudly (outcome failed, an alert), and alert state changes
only once an alert was delivered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dogcli.alerts import STATE_FILE, notify_change
from dogcli.status import ExitStatus

GARBAGE = b"this is not a database, it was overwritten by something else\n" * 100


@dataclass
class Receiver:
    """A real webhook receiver on loopback; answers `status` (500 until told otherwise)."""

    url: str = ""
    status: int = 500
    received: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
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
    assert [a["status"] for a in receiver.accepted] == ["failure", "recovery"]


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
    assert [a["status"] for a in receiver.accepted] == ["failure"]
    assert str(catalog) in receiver.accepted[0]["body"]
    assert cli("fetch").code == ExitStatus.FAILURE
    assert len(receiver.received) == 3  # still failing: announced once

    # Nothing was downloaded, and the damaged file is left as it was for inspection.
    assert not (data_dir / "images").exists()
    if damage == "garbage":
        assert catalog.read_bytes() == GARBAGE
    health = cli("health", "--json")
    assert health.code == 2
    assert json.loads(health.out)["checks"][0]["status"] == "critical"

"""The heartbeat (DOGCLI_PING_URL, healthchecks.io's convention): start once the lock is held,
then success or failure with the summary, in order, to a real receiver; a dead ping URL never
fails a run, and no log names the URL's secret path."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dogcli.archive.lock import LockBusy
from dogcli.archive.session import Archive
from dogcli.config import load_settings
from dogcli.model.errors import DogcliError
from dogcli.model.status import ExitStatus

CHECK = "/ping/5f2b9c1e-check-key"


@dataclass
class Ping:
    method: str
    path: str
    rid: str
    body: str


@dataclass
class Receiver:
    base: str = ""
    pings: list[Ping] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            parts = urlsplit(self.path)
            rid = parse_qs(parts.query).get("rid", [""])[0]
            box.pings.append(Ping("POST", parts.path, rid, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.base = f"http://127.0.0.1:{server.server_port}"
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(path))
    return path


def test_cleanup_pings_start_then_success(
    data_dir: Path, receiver: Receiver, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_PING_URL", receiver.base + CHECK)
    ran = cli("cleanup")
    assert ran.code == ExitStatus.OK, ran.err
    assert [p.path for p in receiver.pings] == [CHECK + "/start", CHECK + "/0"]
    start, end = receiver.pings
    assert start.body == "" and "cleanup on " in end.body and ": ok in " in end.body
    assert start.rid and start.rid == end.rid  # pairs the two on the check's side

    assert cli("cleanup").code == ExitStatus.OK
    assert len(receiver.pings) == 4 and receiver.pings[2].rid != start.rid  # a rid per run


def test_a_failing_run_pings_fail_with_its_summary(data_dir: Path, receiver: Receiver) -> None:
    """Through the Archive's run lifecycle as fetch and backfill use it (a browser-free body
    that fails as a site outage does)."""
    settings = load_settings(env={"DOGCLI_DATA_DIR": str(data_dir),
                                  "DOGCLI_PING_URL": receiver.base + CHECK + "/"})  # fmt: skip
    archive = Archive.open(settings)
    with pytest.raises(DogcliError), archive, archive.run("backfill", ["in_gate"]) as ctx:
        assert [p.path for p in receiver.pings] == [CHECK + "/start"]  # lock held, then
        ctx.run.found, ctx.run.failed = 12, 3
        raise DogcliError("no page of in_gate could be read")
    assert [p.path for p in receiver.pings] == [CHECK + "/start", CHECK + "/fail"]
    body = receiver.pings[1].body
    assert "backfill on " in body and ": failed" in body and "found 12" in body
    assert body.endswith("\nno page of in_gate could be read")


def test_a_run_skipped_by_the_lock_pings_nothing(data_dir: Path, receiver: Receiver) -> None:
    settings = load_settings(env={"DOGCLI_DATA_DIR": str(data_dir),
                                  "DOGCLI_PING_URL": receiver.base + CHECK})  # fmt: skip
    with Archive.open(settings) as first, first.run("fetch") as ctx:
        with pytest.raises(LockBusy), Archive.open(settings) as second, second.run("cleanup"):
            pass  # pragma: no cover
        ctx.run.outcome = "ok"
    assert [p.path for p in receiver.pings] == [CHECK + "/start", CHECK + "/0"]


def test_commands_that_only_look_do_not_ping(
    data_dir: Path, receiver: Receiver, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_PING_URL", receiver.base + CHECK)
    assert cli("db", "upgrade").code == 0
    cli("stats")
    cli("health")
    assert receiver.pings == []


def test_a_dead_ping_url_never_fails_the_run(
    data_dir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_PING_URL", "http://127.0.0.1:9" + CHECK)  # nothing listens
    ran = cli("cleanup")
    assert ran.code == ExitStatus.OK, ran.err
    assert "heartbeat start to 127.0.0.1 failed" in ran.err
    assert "heartbeat success to 127.0.0.1 failed" in ran.err
    assert "check-key" not in ran.err and "Traceback" not in ran.err


def test_the_ping_url_keeps_its_query(receiver: Receiver) -> None:
    from dogcli.ops.heartbeat import ping_url

    url = ping_url("https://hc.example/ping/KEY?create=1", "fail", "r1")
    assert url == "https://hc.example/ping/KEY/fail?create=1&rid=r1"
    assert ping_url("https://hc.example/ping/KEY/", "success") == "https://hc.example/ping/KEY/0"


@pytest.mark.parametrize("value", ["ftp://hc.example/KEY-s3cret", "hc-ping.com/KEY-s3cret"])
def test_a_bad_ping_url_is_one_line(
    value: str, cli: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_PING_URL", value)
    ran = cli("cleanup")
    assert ran.code == ExitStatus.USAGE
    assert ran.err.strip().count("\n") == 0 and "DOGCLI_PING_URL" in ran.err
    assert "s3cret" not in ran.err


def test_ping_failures_are_logged_without_the_key() -> None:
    from dogcli.ops.heartbeat import ping

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("dogcli.ops.heartbeat")
    handler = Keep()
    logger.addHandler(handler)
    try:
        assert ping("http://127.0.0.1:9/ping/SecretKey", "fail", "body") is False
    finally:
        logger.removeHandler(handler)
    assert lines == ["heartbeat fail to 127.0.0.1 failed: ConnectionError"]

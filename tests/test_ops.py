"""Operations: overlap lock, run journal, cleanup, health, alerts, metrics."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from dogcli.archive.session import Archive
from dogcli.catalog.captures import Catalog
from dogcli.catalog.runs import Run, RunJournal
from dogcli.config import load_settings
from dogcli.jobs.cleanup import run_cleanup
from dogcli.model.captures import Capture, Zones
from dogcli.storage.base import StoredFile
from dogcli.storage.local import LocalStorage
from tests.pgserver import free_port

TZ = ZoneInfo("America/Los_Angeles")
ZONES = Zones(TZ, ZoneInfo("UTC"))  # URL stamps in UTC, days local
ROOT = Path(__file__).resolve().parent.parent


def jpeg(seed: str, size: int = 300) -> bytes:
    body = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return b"\xff\xd8\xff\xe0" + body[:size] + b"\xff\xd9"


def capture_at(moment: datetime, stream: str = "in_gate") -> Capture:
    """The capture taken at a site-local wall time (its URL stamp is that instant in UTC)."""
    return ZONES.capture("apm", stream, stamp(moment))


def stamp(moment: datetime) -> str:
    """The URL stamp of a site-local wall time."""
    return ZONES.stamp(moment.replace(tzinfo=TZ))


def populate(data_dir: Path, url: str, moments: list[datetime], stream: str = "in_gate") -> None:
    """Captures at the given site-local moments: real files plus catalog rows."""
    storage = LocalStorage(data_dir)
    records = []
    for moment in moments:
        capture = capture_at(moment, stream)
        ts, rel = capture.url_ts, capture.rel_path
        assert rel.split("/")[3] == f"{moment:%Y-%m-%d}"  # the folder of its local day
        data = jpeg(stream + ts)
        storage.write_atomic(rel, data)
        records.append(StoredFile("apm", stream, ts, "full", rel, len(data),
                                  hashlib.sha256(data).hexdigest(), f"http://cdn/{ts}",
                                  datetime.now(UTC).isoformat()))  # fmt: skip
    with Catalog(url) as catalog:
        catalog.upgrade()
        catalog.insert(records, ZONES.url)


def site_now() -> datetime:
    return datetime.now(TZ).replace(tzinfo=None, microsecond=0)


def rows(url: str, table: str = "captures") -> list[Any]:
    engine = create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(text(f"select * from {table}")).mappings().all()
    engine.dispose()
    return [dict(r) for r in result]


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'dogcli.db'}"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOGCLI_RETRY_BASE", "0.01")
    return {"dir": data_dir, "url": url}


# -- the overlap lock ----------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from dogcli.archive.lock import archive_lock
from dogcli.catalog.captures import Catalog
catalog = Catalog(sys.argv[2]) if sys.argv[2] != "-" else None
with archive_lock(Path(sys.argv[1]), catalog):
    print("held", flush=True)
    sys.stdin.read()
"""


@dataclass
class Holder:
    proc: subprocess.Popen[str]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def listing(folder: Path) -> dict[str, int]:
    """Files and sizes, but SQLite's own -wal/-shm companions."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def hold_lock(data_dir: Path, url: str | None) -> Holder:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), url or "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return Holder(proc)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_second_run_exits_75_untouched_and_a_killed_holder_does_not_block(
    backend: str,
    archive: dict[str, Any],
    cli: Any,
    chromium: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    url = archive["url"] if backend == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("DOGCLI_DATABASE_URL", url)
    monkeypatch.setenv("DOGCLI_SITE_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("DOGCLI_CHROME_BINARY", chromium[0])
    monkeypatch.setenv("DOGCLI_CHROMEDRIVER", chromium[1])
    assert cli("db", "upgrade").code == 0
    holder = hold_lock(archive["dir"], url if backend == "postgresql" else None)
    before = listing(archive["dir"])
    try:
        ran = cli("fetch", "--wait", "0.5")
        assert ran.code == 75, ran.err
        assert "another dogcli run holds" in ran.err and "gave up after 0.5s" in ran.err
        assert len(ran.err.strip().splitlines()) == 1
        assert not (archive["dir"] / "images").exists()
        assert listing(archive["dir"]) == before
        journal = rows(url, "runs")
        assert [(r["command"], r["outcome"]) for r in journal] == [("fetch", "skipped")]
        assert cli("cleanup").code == 75
    finally:
        holder.kill()
    # The holder died with SIGKILL: its lock went with it.
    ran = cli("cleanup", "--wait", "5")
    assert ran.code == 0, ran.err
    assert [r["outcome"] for r in rows(url, "runs")][-1] == "ok"


# -- cleanup -------------------------------------------------------------------------------------


def test_cleanup_deletes_exactly_what_is_older_than_the_retention(
    archive: dict[str, Any], cli: Any
) -> None:
    now = site_now()
    today = now.date()
    moments = [
        datetime.combine(today - timedelta(days=d), datetime.min.time()) + timedelta(hours=h)
        for d in range(0, 8)
        for h in (0, 11, 23)
        if datetime.combine(today - timedelta(days=d), datetime.min.time()) + timedelta(hours=h)
        <= now
    ]
    populate(archive["dir"], archive["url"], moments)
    cutoff = today - timedelta(days=3)
    expired = [m for m in moments if m.date() < cutoff]
    kept = [m for m in moments if m.date() >= cutoff]
    size = len(jpeg("x"))

    dry = cli("cleanup", "--retention-days", "3", "--dry-run")
    assert dry.code == 0, dry.err
    assert f"would delete {len(expired)} captures" in dry.out
    assert len(rows(archive["url"])) == len(moments)

    ran = cli("cleanup", "--retention-days", "3")
    assert ran.code == 0, ran.err
    assert f"deleted {len(expired)} captures ({len(expired) * size / 1048576:.1f} MiB)" in ran.out
    left = sorted(r["url_ts"] for r in rows(archive["url"]))
    assert left == sorted(stamp(m) for m in kept)
    folders = sorted(p.name for p in (archive["dir"] / "images/apm/in_gate").iterdir())
    assert folders == sorted({f"{m:%Y-%m-%d}" for m in kept})
    run = rows(archive["url"], "runs")[-1]
    assert (run["command"], run["outcome"], run["deleted"]) == ("cleanup", "ok", len(expired))
    again = cli("cleanup", "--retention-days", "3")
    assert "deleted 0 captures" in again.out


CRASHER = """
import os, sys
from dogcli.catalog import captures as store
from dogcli.cli.app import main
calls = {"n": 0}
real = store.Catalog.delete_ids
def crash_on_second(self, ids):
    calls["n"] += 1
    if calls["n"] == 2:
        os._exit(9)  # the process dies after deleting a batch of files, before their rows
    return real(self, ids)
store.Catalog.delete_ids = crash_on_second
import dogcli.jobs.cleanup as cleanup
cleanup.BATCH = 5
main(["cleanup", "--retention-days", "2"])
"""


def test_a_crash_in_the_middle_of_cleanup_loses_nothing_and_the_next_run_finishes(
    archive: dict[str, Any], cli: Any
) -> None:
    now = site_now()
    old_day = now.date() - timedelta(days=10)
    old = [datetime.combine(old_day, datetime.min.time()) + timedelta(minutes=10 * i)
           for i in range(23)]  # fmt: skip
    recent = [now - timedelta(minutes=10 * i) for i in range(1, 6)]
    populate(archive["dir"], archive["url"], old + recent)
    proc = subprocess.run([sys.executable, "-c", CRASHER], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 9, proc.stderr
    # Mid-crash: the first batch is fully gone; the second batch's files are gone but its rows
    # remain (all expired); nothing inside the retention was touched.
    left = rows(archive["url"])
    assert len(left) == len(old) - 5 + len(recent)
    for moment in recent:
        assert (archive["dir"] / capture_at(moment).rel_path).is_file()
    ran = cli("cleanup", "--retention-days", "2")
    assert ran.code == 0, ran.err
    assert sorted(r["url_ts"] for r in rows(archive["url"])) == sorted(stamp(m) for m in recent)
    assert not (archive["dir"] / f"images/apm/in_gate/{old_day}").exists()


def test_max_disk_percent_deletes_oldest_but_never_the_last_24_hours(
    archive: dict[str, Any],
) -> None:
    now = datetime.now(UTC)
    local = now.astimezone(TZ).replace(tzinfo=None, microsecond=0)
    moments = [local - timedelta(hours=h) for h in (1, 5, 20, 30, 40, 50, 60)]
    populate(archive["dir"], archive["url"], moments)
    settings = load_settings({"data_dir": archive["dir"]})

    size = len(jpeg("x"))

    def fake_usage(_path: Path) -> tuple[int, int]:  # a disk this full cannot be made real here
        files = list((archive["dir"] / "images").rglob("*.jpg"))
        return 5 * size + sum(f.stat().st_size for f in files), 10 * size

    with Archive.open(settings) as session:
        result = run_cleanup(session, "apm", retention_days=30, max_disk_percent=95,
                             now=now, disk_usage=fake_usage)  # fmt: skip
    # 7 files = 120 %: the oldest go until 90 % (4 files); only captures older than 24 h may go.
    left = sorted(r["url_ts"] for r in rows(archive["url"]))
    assert left == sorted(stamp(m) for m in moments[:4])
    assert result.deleted == 3 and result.disk_percent_after == pytest.approx(90.0)

    with Archive.open(settings) as session:
        result = run_cleanup(session, "apm", retention_days=30, max_disk_percent=60,
                             now=now, disk_usage=fake_usage)  # fmt: skip
    # Still over 60 %, but what is left is the last 24 hours (and the 30 h one goes).
    left = sorted(r["url_ts"] for r in rows(archive["url"]))
    assert left == sorted(stamp(m) for m in moments[:3])


# -- health --------------------------------------------------------------------------------------


def journal_fetch(url: str, outcome: str, finished_ago: timedelta, streams: list[str]) -> None:
    with Catalog(url) as catalog:
        catalog.upgrade()
        started = datetime.now(UTC) - finished_ago - timedelta(seconds=5)
        RunJournal(catalog).finish(Run(command="fetch", streams=streams, started_at=started,
                                       finished_at=started + timedelta(seconds=5),
                                       outcome=outcome))  # fmt: skip


def test_health_returns_each_exit_code_when_it_should(
    archive: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = archive["url"]
    # 3 UNKNOWN: a new archive with no captures and no fetch yet.
    assert cli("db", "upgrade").code == 0
    ran = cli("health", "--json")
    assert ran.code == 3, ran.out
    report = json.loads(ran.out)
    assert report["status"] == "unknown"
    assert json.loads((archive["dir"] / ".health").read_text()) == report

    # 0 OK: fresh captures and a successful fetch a minute ago.
    now = site_now()
    for stream in ("in_gate", "out_gate"):
        populate(archive["dir"], url, [now - timedelta(minutes=3)], stream)
    journal_fetch(url, "ok", timedelta(minutes=1), ["in_gate", "out_gate"])
    ran = cli("health")
    assert ran.code == 0, ran.out
    assert ran.out.startswith("DOGCLI OK: ")

    # 1 WARNING: the last fetch only partly worked.
    journal_fetch(url, "partial", timedelta(seconds=10), ["in_gate", "out_gate"])
    ran = cli("health", "--json")
    assert ran.code == 1
    checks = {c["name"]: c["status"] for c in json.loads(ran.out)["checks"]}
    assert checks["last_fetch_run"] == "warning" and checks["in_gate.last_fetch"] == "ok"

    # 1 WARNING too when the newest capture (3 minutes old) is past the warning age, and
    # 2 CRITICAL past the critical one.
    monkeypatch.setenv("DOGCLI_STALE_WARN_MINUTES", "1")
    monkeypatch.setenv("DOGCLI_STALE_CRIT_MINUTES", "600")
    journal_fetch(url, "ok", timedelta(seconds=1), ["in_gate", "out_gate"])
    assert cli("health").code == 1
    monkeypatch.setenv("DOGCLI_STALE_CRIT_MINUTES", "2")
    ran = cli("health", "--json")
    assert ran.code == 2
    statuses = {c["name"]: c["status"] for c in json.loads(ran.out)["checks"]}
    assert statuses["in_gate.newest_capture"] == "critical"

    # 2 CRITICAL: the catalog is unreachable; its password never shows.
    monkeypatch.setenv("DOGCLI_DATABASE_URL", "postgresql+psycopg://dog:hunter2@127.0.0.1:1/x")
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "0")
    ran = cli("health", "--json")
    assert ran.code == 2
    assert "hunter2" not in ran.out + ran.err
    assert "hunter2" not in (archive["dir"] / ".health").read_text()
    assert json.loads(ran.out)["checks"][0]["status"] == "critical"

    # 3 UNKNOWN as well when the settings themselves are wrong (not 2, which means CRITICAL).
    monkeypatch.setenv("DOGCLI_CONCURRENCY", "0")
    ran = cli("health")
    assert ran.code == 3 and "DOGCLI_CONCURRENCY" in ran.err


def test_health_disk_thresholds(archive: dict[str, Any]) -> None:
    from dogcli.reports.health import run_health

    settings = load_settings({"data_dir": archive["dir"]})
    for percent, expected in ((50.0, "ok"), (85.0, "warning"), (95.0, "critical")):
        report = run_health(settings, disk_usage=lambda _p, v=percent: v)
        disk = next(c for c in report.checks if c.name == "disk")
        assert disk.status == expected and disk.value == percent


# -- alerts and metrics ----------------------------------------------------------------------------


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


def test_runs_command_lists_the_journal(archive: dict[str, Any], cli: Any) -> None:
    journal_fetch(archive["url"], "ok", timedelta(minutes=5), ["in_gate"])
    journal_fetch(archive["url"], "failed", timedelta(minutes=1), ["in_gate"])
    ran = cli("runs", "--json", "--limit", "1")
    assert ran.code == 0
    listed = json.loads(ran.out)["runs"]
    assert [(r["command"], r["outcome"]) for r in listed] == [("fetch", "failed")]
    table = cli("runs")
    assert "failed" in table.out and "ok" in table.out
    stats = json.loads(cli("stats", "--json").out)
    assert stats["last_runs"]["fetch"]["outcome"] == "failed"

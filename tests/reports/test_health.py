"""health: each exit code when it should, and the disk thresholds."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from dogcli.config import load_settings
from tests.archivekit import (
    journal_fetch,
    populate,
    site_now,
)


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

"""health speaks the monitoring-plugin format: `DOGCLI STATUS: finding | perfdata`, then one
line per check; --json is unchanged."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dogcli.model.status import HealthStatus
from tests.archivekit import journal_fetch, populate, site_now

# label=value[UOM];[warn];[crit];[min];[max] (Monitoring Plugins Development Guidelines)
PERF = re.compile(r"^('[^']+'|[^ '=]+)=(-?[\d.]+)(s|%|B|KB|MB|TB|c)?(;[\d.]*){0,4}$")
STATUS_LINE = re.compile(r"^DOGCLI (OK|WARNING|CRITICAL|UNKNOWN): ([^|]+?)(?: \| (.+))?$")


def parse(out: str) -> tuple[str, str, dict[str, str], list[str]]:
    first, *rest = out.rstrip("\n").split("\n")
    match = STATUS_LINE.match(first)
    assert match, first
    perf = {}
    for item in (match[3] or "").split():
        assert PERF.match(item), item
        label, _, value = item.partition("=")
        perf[label] = value
    return match[1], match[2], perf, rest


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    return {"dir": data_dir, "url": f"sqlite:///{data_dir / 'dogcli.db'}"}


def test_status_line_perfdata_and_a_line_per_check(
    archive: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = archive["url"]
    now = site_now()
    populate(archive["dir"], url, [now - timedelta(minutes=5)], "in_gate")
    populate(archive["dir"], url, [now - timedelta(minutes=45)], "out_gate")
    journal_fetch(url, "ok", timedelta(minutes=2), ["in_gate", "out_gate"])
    ran = cli("health")
    assert ran.code == HealthStatus.WARNING, ran.out
    assert not ran.out.startswith(" ")
    status, finding, perf, rest = parse(ran.out)
    assert status == "WARNING"
    assert finding == "out_gate.newest_capture: newest capture 45 min ago"
    disk = perf["disk"].split(";")
    assert disk[0].endswith("%") and disk[1:] == ["80", "90", "0", "100"]
    seconds, warn, crit, low = perf["out_gate.newest_capture"].split(";")
    assert 44 * 60 <= int(seconds.rstrip("s")) <= 47 * 60 and (warn, crit, low) == (
        "1800", "3600", "0",
    )  # fmt: skip
    assert perf["in_gate.last_fetch"].startswith(("120s;", "121s;", "122s;", "123s;"))
    checks = json.loads(cli("health", "--json").out)["checks"]
    assert len(rest) == len(checks)
    assert rest[0].split()[:2] == ["WARNING", "out_gate.newest_capture:"]
    assert {line.split()[1].rstrip(":") for line in rest} == {c["name"] for c in checks}

    # -q: the status line alone (one line a run in the journal).
    quiet = cli("health", "-q")
    assert quiet.out.count("\n") == 1 and quiet.out.startswith("DOGCLI WARNING: ")

    # Thresholds follow the settings; several findings at the worst status are counted.
    monkeypatch.setenv("DOGCLI_STALE_WARN_MINUTES", "1")
    monkeypatch.setenv("DOGCLI_STALE_CRIT_MINUTES", "2")
    status, finding, perf, _ = parse(cli("health").out)
    assert status == "CRITICAL" and "more CRITICAL)" in finding
    assert perf["in_gate.newest_capture"].split(";")[1:3] == ["60", "120"]


def test_ok_and_unknown(archive: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    url = archive["url"]
    now = site_now()
    for stream in ("in_gate", "out_gate"):
        populate(archive["dir"], url, [now - timedelta(minutes=2)], stream)
    journal_fetch(url, "ok", timedelta(minutes=1), ["in_gate", "out_gate"])
    ran = cli("health")
    assert ran.code == HealthStatus.OK
    status, finding, perf, rest = parse(ran.out)
    assert (status, finding) == ("OK", f"all {len(rest)} checks OK")
    assert set(perf) == {"disk", "in_gate.newest_capture", "in_gate.last_fetch",
                         "out_gate.newest_capture", "out_gate.last_fetch",
                         "incomplete_days"}  # fmt: skip
    assert perf["incomplete_days"].startswith("0;")

    ran = cli("--data-dir", str(tmp_path / "nothing"), "health")
    assert ran.code == HealthStatus.UNKNOWN
    status, finding, perf, _ = parse(ran.out)
    assert status == "UNKNOWN" and "no archive yet" in finding and set(perf) == {"disk"}


def test_json_is_unchanged(archive: dict[str, Any], cli: Any) -> None:
    report = json.loads(cli("health", "--json").out)
    assert set(report) == {"status", "generated_at", "checks"}
    assert all(set(c) == {"name", "status", "message", "value"} for c in report["checks"])

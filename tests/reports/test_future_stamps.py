"""health: a capture stamped in the future (a camera's clock, a bad URL) is not freshness.
It kept "newest capture 0 min ago" for ever after the camera stopped; now captures stamped
more than 15 minutes after now are left out of the age, named, and make the check WARNING
at least. Real catalogs (SQLite and PostgreSQL), real files, the CLI."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.archivekit import TZ, journal_fetch, populate, site_now


def _local(utc_text: str) -> datetime:
    """A UTC instant as the site-local wall time populate() takes."""
    moment = datetime.fromisoformat(utc_text).astimezone(TZ)
    return moment.replace(tzinfo=None)


@pytest.fixture
def archive_at(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    monkeypatch.setenv("DOGCLI_RETRY_BASE", "0.01")
    return {"dir": data_dir, "url": db_url}


def _checks(cli: Any) -> tuple[int, dict[str, dict[str, Any]]]:
    ran = cli("health", "--json")
    return ran.code, {c["name"]: c for c in json.loads(ran.out)["checks"]}


def test_a_capture_stamped_in_2030_is_not_taken_as_fresh(
    archive_at: dict[str, Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, data_dir = archive_at["url"], archive_at["dir"]
    monkeypatch.setenv("DOGCLI_STALE_WARN_MINUTES", "600")  # 3 h old is fine here
    monkeypatch.setenv("DOGCLI_STALE_CRIT_MINUTES", "1200")
    now = site_now()
    for stream in ("in_gate", "out_gate"):
        populate(data_dir, url, [now - timedelta(hours=3)], stream)
    journal_fetch(url, "ok", timedelta(minutes=1), ["in_gate", "out_gate"])
    code, checks = _checks(cli)
    assert code == 0, checks

    # The camera stopped 3 h ago, and one capture carries a stamp of 2030.
    populate(data_dir, url, [_local("2030-01-01T00:00:00+00:00")], "in_gate")
    code, checks = _checks(cli)
    newest = checks["in_gate.newest_capture"]
    assert newest["status"] == "warning", newest
    assert newest["message"] == (
        "newest capture 3.0 h ago; 1 capture stamped in the future (2030-01-01 00:00Z) ignored"
    )
    assert 179 <= newest["value"] <= 181  # the age of the real newest capture, in minutes
    assert checks["out_gate.newest_capture"]["status"] == "ok"
    assert code == 1

    # Past the critical age it is CRITICAL as any stale stream; the future ones still named.
    monkeypatch.setenv("DOGCLI_STALE_WARN_MINUTES", "30")
    monkeypatch.setenv("DOGCLI_STALE_CRIT_MINUTES", "60")
    populate(data_dir, url, [_local("2031-06-01T12:30:00+00:00")], "in_gate")
    code, checks = _checks(cli)
    newest = checks["in_gate.newest_capture"]
    assert code == 2 and newest["status"] == "critical"
    assert newest["message"].endswith(
        "; 2 captures stamped in the future (2030-01-01 00:00Z to 2031-06-01 12:30Z) ignored"
    )
    ran = cli("health")  # the plugin line and the table say it too
    assert "stamped in the future" in ran.out
    perf = re.search(r"in_gate\.newest_capture=(\d+)s", ran.out)
    assert perf and 10700 < int(perf[1]) < 10900, ran.out  # perfdata: the real age, not 0


def test_a_few_minutes_ahead_is_a_clock_skew_and_still_fresh(
    archive_at: dict[str, Any], cli: Any
) -> None:
    url, data_dir = archive_at["url"], archive_at["dir"]
    now = site_now()
    populate(data_dir, url, [now - timedelta(minutes=30), now + timedelta(minutes=5)], "in_gate")
    populate(data_dir, url, [now - timedelta(minutes=2)], "out_gate")
    journal_fetch(url, "ok", timedelta(minutes=1), ["in_gate", "out_gate"])
    code, checks = _checks(cli)
    newest = checks["in_gate.newest_capture"]
    assert newest["status"] == "ok" and newest["message"] == "newest capture 0 min ago"
    assert code == 0


def test_only_future_captures_are_no_freshness_at_all(archive_at: dict[str, Any], cli: Any) -> None:
    url, data_dir = archive_at["url"], archive_at["dir"]
    populate(data_dir, url, [site_now() + timedelta(days=3)], "in_gate")
    populate(data_dir, url, [site_now() - timedelta(minutes=2)], "out_gate")
    journal_fetch(url, "ok", timedelta(minutes=1), ["in_gate", "out_gate"])
    code, checks = _checks(cli)
    newest = checks["in_gate.newest_capture"]
    assert newest["status"] not in ("ok", "critical"), newest  # cannot tell; never fresh
    assert newest["message"].startswith("no newest capture yet; 1 capture stamped in the future")
    assert code != 0

"""dogcli runs: the run journal."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.archivekit import (
    journal_fetch,
)


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

"""--json on fetch, backfill and cleanup: one JSON object on stdout, messages on stderr."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.archivekit import archive, jpeg, populate, rows, site_now  # noqa: F401
from tests.e2e.test_e2e import assert_archive_matches

COUNTS = ("found", "new", "downloaded", "thumbnail", "already_had", "failed", "deleted",
          "bytes", "seconds")  # fmt: skip


@pytest.mark.browser
def test_backfill_json(make_site: Any, cli: Any) -> None:
    site = make_site(days=2)
    day = site.day(-1)
    broken = site.dataset.captures("in_gate", day)[3]
    site.replica.faults.cdn(broken.utc, "always:500", stream="in_gate")

    ran = cli("-q", "backfill", str(day), "--json")
    assert ran.code == 1, ran.err  # one capture failed
    summary = json.loads(ran.out)  # stdout is the object and nothing else
    assert set(COUNTS) <= set(summary)
    assert summary["command"] == "backfill" and summary["outcome"] == "partial"
    assert summary["failed"] == 1 and len(summary["failures"]) == 1
    assert "500" in summary["failures"][0], summary["failures"]
    assert "failed:" in ran.err  # the failure is also a message on stderr
    listed = sum(len(site.dataset.captures(s, day)) for s in ("in_gate", "out_gate"))
    assert summary["found"] == listed
    assert summary["new"] == listed and summary["downloaded"] == listed - 1
    assert summary["bytes"] > 0 and summary["seconds"] > 0

    site.replica.faults.clear()
    again = cli("backfill", str(day), "--json")
    assert again.code == 0, again.err
    second = json.loads(again.out)
    assert (second["new"], second["downloaded"], second["failed"]) == (1, 1, 0)
    assert second["already_had"] == listed - 1 and second["failures"] == []
    assert_archive_matches(site, [day], ("in_gate", "out_gate"))


def test_cleanup_json(archive: dict[str, Any], cli: Any) -> None:  # noqa: F811
    today = site_now().date()
    moments = [datetime.combine(today - timedelta(days=d), datetime.min.time()) + timedelta(hours=1)
               for d in range(1, 7)]  # fmt: skip
    populate(archive["dir"], archive["url"], moments)
    size = len(jpeg("x"))

    dry = cli("cleanup", "--retention-days", "3", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    planned = json.loads(dry.out)
    assert planned["dry_run"] is True and planned["deleted"] == 3
    assert len(rows(archive["url"])) == 6

    ran = cli("-q", "cleanup", "--retention-days", "3", "--json")
    assert ran.code == 0, ran.err
    summary = json.loads(ran.out)
    assert set(COUNTS) <= set(summary)
    assert summary["command"] == "cleanup" and summary["outcome"] == "ok"
    assert (summary["deleted"], summary["bytes"]) == (3, 3 * size)
    assert summary["cutoff"] == str(today - timedelta(days=3))
    assert summary["failures"] == [] and summary["dry_run"] is False
    assert len(rows(archive["url"])) == 3

    # Without --json the summary line is still the plain one.
    plain = cli("cleanup", "--retention-days", "3")
    assert plain.out.startswith("cleanup: deleted 0 captures")

"""The real CLI under the CDN's and the page's faults, injected by the replica per request.

Transient faults (5xx, 429 with Retry-After, resets, truncated bodies, HTML with status 200,
answers slower than the read timeout, a 404 on the full size, a gallery API that fails and then
hangs) must cost nothing but retries: every capture ends stored byte for byte, within the retry
budget. Permanent faults must end the run with exit 1, name the captures, store nothing for
them, and leave them for the next run.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Site
from tests.e2e.test_e2e import db_url_of, summary_numbers
from tests.faultkit import archive_state, assert_complete, expected_bytes, record, rel_path_of

pytestmark = pytest.mark.browser


def trim(site: Site, stream: str, day: Any, keep: int) -> list[datetime]:
    """Keep `keep` evenly spaced captures of a (stream, local day): small days, fast tests.
    Returns the UTC instants of those with a full size."""
    specs = site.dataset.captures(stream, day)
    step = max(1, len(specs) // keep)
    kept = specs[::step][:keep]
    site.dataset[(stream, day)] = kept
    # Only captures with a full size: faults are planned on it (a thumbnail-only capture's
    # full size is a 404 the fault plan never sees).
    return [spec.utc for spec in kept if spec.has_full]


def full_path(site: Site, stream: str, ts: datetime) -> str:
    return "/cdn" + site.replica.cdn_path(stream, ts, "full")


def rel_path(site: Site, stream: str, ts: datetime) -> str:
    """images/apm/{stream}/{local day}/{stream}_{UTC time}Z.jpg of the capture at `ts`."""
    return rel_path_of(site.replica, stream, site.replica.stamp(ts))


TRANSIENT_PLANS: list[list[str]] = [
    ["500"],
    ["502"],
    ["503"],
    ["429:1"],
    ["reset"],
    ["truncate"],
    ["html200"],
    ["slow:2.5"],  # past the read timeout of 1 s
    ["503", "reset", "truncate"],  # the whole retry budget (3 retries)
    ["429:1", "html200", "502"],
]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_transient_faults_cost_only_retries(
    backend: str,
    make_site: Any,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    site = make_site(days=2, database_url=url)
    day = site.day(-1)
    captures = trim(site, "in_gate", day, 14)
    trim(site, "out_gate", day, 6)
    # The local day's gallery holds URLs of two UTC dates: faults land on both.
    assert len({site.replica.stamp(ts)[:10] for ts in captures}) == 2
    monkeypatch.setenv("DOGCLI_READ_TIMEOUT", "1")
    monkeypatch.setenv("DOGCLI_PAGE_TIMEOUT", "4")
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "3")
    faults = site.replica.faults
    plans = dict(zip(captures, TRANSIENT_PLANS, strict=False))
    for ts, kinds in plans.items():
        faults.cdn(ts, kinds, stream="in_gate", variant="full")
    no_full = captures[len(TRANSIENT_PLANS)]  # the CDN answers 404 for its full size
    faults.cdn(no_full, "always:404", stream="in_gate", variant="full")
    faults.api(["fail", "hang"])  # the gallery API: an error, then no answer at all

    ran = cli("backfill", str(day))
    assert ran.code == 0, ran.err
    numbers = summary_numbers(ran.out)
    assert numbers["failed"] == 0 and numbers["found"] == 14 + 6
    assert numbers["thumbnail"] >= 1

    # Byte for byte what the CDN serves; the thumbnail where the full size was a 404.
    expected = expected_bytes(site.replica, ("in_gate", "out_gate"), [day])
    thumbnail = site.replica.image_bytes("in_gate", no_full, "thumbnail")
    expected[rel_path(site, "in_gate", no_full)] = thumbnail
    assert_complete(archive_state(site.data_dir, url), expected)
    engine = create_engine(db_url_of(site))
    with engine.connect() as conn:
        variant, path = conn.execute(
            text("select variant, path from captures where stream = 'in_gate' and url_ts = :ts"),
            {"ts": site.replica.stamp(no_full)},
        ).one()
    engine.dispose()
    assert (variant, path) == ("thumbnail", rel_path(site, "in_gate", no_full))

    # Every planned fault was served, and cost exactly one request: no more than the budget.
    attempts = faults.attempts()
    for ts, kinds in plans.items():
        assert attempts[full_path(site, "in_gate", ts)] == len(kinds) + 1, (ts, kinds)
    served = Counter(
        name.split(":")[0] for path, name in faults.injected if path.startswith("/cdn")
    )
    planned = Counter(k.split(":")[0] for kinds in plans.values() for k in kinds)
    assert served - Counter({"404": served["404"]}) == planned
    assert [name for path, name in faults.injected if path == "api"] == ["fail", "hang"]

    # A 429's Retry-After (1 s) is honoured, although the backoff base is 0.05 s.
    gaps = []
    for ts, kinds in plans.items():
        if not kinds[0].startswith("429"):
            continue
        path = full_path(site, "in_gate", ts)
        log = sorted((r for r in site.replica.requests if r.path == path), key=lambda r: r.time)
        assert log[0].status == 429
        gaps.append(log[1].time - log[0].end)
    assert gaps and min(gaps) >= 0.95, gaps
    dogcli_requests = [r for r in site.replica.cdn_requests() if r.agent.startswith("dogcli/")]
    record(
        f"cdn_transient_{backend}",
        captures=len(expected),
        stored_byte_equal=len(expected),
        faults_injected=sum(served.values()) + 2,
        faults_by_kind=dict(sorted((served + Counter(api=2)).items())),
        dogcli_cdn_requests_answered=len(dogcli_requests),
        max_attempts_per_image=max(attempts[full_path(site, "in_gate", ts)] for ts in plans),
        retry_budget=4,
        retry_after_gap_min_s=round(min(gaps), 3),
    )


def test_permanent_faults_fail_the_run_name_the_captures_and_are_retried(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(days=2)
    day = site.day(-1)
    captures = trim(site, "in_gate", day, 10)[:9]
    site.dataset[("in_gate", day)] = [s for s in site.dataset.captures("in_gate", day)
                                      if s.utc in captures]  # fmt: skip
    monkeypatch.setenv("DOGCLI_READ_TIMEOUT", "1")
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "2")
    faults = site.replica.faults
    bad = {
        captures[1]: "always:503",
        captures[3]: "always:html200",
        captures[4]: "always:reset",
        captures[6]: "always:truncate",
        captures[8]: "always:slow:1.5",
    }
    for ts, kind in bad.items():
        faults.cdn(ts, kind, stream="in_gate", variant="full")

    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 1, ran.err
    numbers = summary_numbers(ran.out)
    assert (numbers["found"], numbers["downloaded"], numbers["failed"]) == (9, 4, 5)
    failed_lines = [line for line in ran.err.splitlines() if "failed:" in line]
    assert len(failed_lines) == 5
    for ts in bad:
        assert any(site.replica.stamp(ts) in line for line in failed_lines), (ts, failed_lines)
    assert "Traceback" not in ran.err
    state = archive_state(site.data_dir)
    for ts in bad:
        assert rel_path(site, "in_gate", ts) not in state.files
        assert rel_path(site, "in_gate", ts) not in state.rows
        assert faults.attempts()[full_path(site, "in_gate", ts)] == 3  # 1 + 2 retries, no more
    expected = expected_bytes(site.replica, ("in_gate",), [day])
    good = {rel: data for rel, data in expected.items()
            if rel not in {rel_path(site, "in_gate", ts) for ts in bad}}  # fmt: skip
    assert_complete(state, good)

    # The next run tries exactly those again, and gets them once the CDN is well.
    faults.clear()
    site.replica.reset_stats()
    ran = cli("backfill", str(day), "-s", "in_gate")
    assert ran.code == 0, ran.err
    numbers = summary_numbers(ran.out)
    assert (numbers["already"], numbers["downloaded"], numbers["failed"]) == (4, 5, 0)
    assert_complete(archive_state(site.data_dir), expected)
    fetched = {r.path for r in site.replica.cdn_requests() if r.agent.startswith("dogcli/")}
    assert fetched == {full_path(site, "in_gate", ts) for ts in bad}
    record(
        "cdn_permanent",
        failed_captures=len(bad),
        named_in_summary=len(failed_lines),
        stored_for_failed=0,
        retried_next_run=len(bad),
        stored_after_retry=len(expected),
    )

"""A hostile or broken camera page, through the real CLI and Chromium: image URLs with `..`,
absolute paths, other hosts, other streams, odd timestamps, thousands of images, and a page
that never finishes loading. Nothing is written outside the data dir, dogcli sends no request
to a host other than the configured CDN, and its memory stays bounded.

Both servers answer every unknown path with a valid JPEG (``catch_all``), so that the hostile
URLs load in the browser and stay in its DOM, where dogcli reads them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Site
from tests.e2e.test_e2e import summary_numbers
from tests.faultkit import (
    archive_state,
    assert_complete,
    cli_command,
    cli_env,
    expected_bytes,
    kill_group,
    record,
    rel_path_of,
    run_cli,
)
from tests.reliability.test_faults import trim
from tests.replica import Replica, ReplicaConfig, make_dataset

pytestmark = pytest.mark.browser

MANY = 3000  # extra images on the page
SITE_TZ = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def evil() -> Iterator[Replica]:
    """Another host (127.0.0.2) that serves a JPEG for anything."""
    rep = Replica(make_dataset(days=[]), ReplicaConfig(api_delay=0, host="127.0.0.2"))
    rep.catch_all = True
    with rep:
        yield rep


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A home, a working dir and a temp dir for the run, to see what it writes where."""
    short_tmp = Path(tempfile.mkdtemp(prefix="dgh-"))  # Chromium's socket path must be short
    paths = {"root": tmp_path / "box", "tmp": short_tmp}
    for name in ("home", "cwd"):
        paths[name] = paths["root"] / name
        paths[name].mkdir(parents=True)
    yield paths
    shutil.rmtree(short_tmp, ignore_errors=True)


def hostile_urls(site: Site, evil: Replica, day: Any, other_day: datetime) -> list[str]:
    """URLs a hostile page adds to the History of the local `day`. Well-formed ones are
    stamped in UTC, like the real site's: date folder, hour folder and stamp. `other_day`:
    a real capture of another local day."""
    rep = site.replica
    cdn = rep.cdn_url
    some = site.dataset.captures("in_gate", day)[3].utc
    other_stream = site.dataset.captures("out_gate", day)[2].utc
    start = datetime.combine(day, datetime.min.time(), SITE_TZ).astimezone(UTC)  # local midnight
    new = start + timedelta(hours=4, minutes=4, seconds=4)  # not a capture of the dataset
    h, d = new.hour, f"{new:%Y-%m-%d}"
    name = f"{rep.stamp(new)}-in_gate.jpeg"
    far = f"http://127.0.0.2:{evil.port}"
    urls = [
        f"{cdn}/apm/{d}/{h}/../../../../../../../tmp/pwned-1.jpeg",
        f"{cdn}/apm/{d}/{h}/..%2F..%2F..%2F..%2Fpwned-2-in_gate.jpeg",
        f"{cdn}/apm/%2e%2e/%2e%2e/%2e%2e/pwned-3.jpeg",
        f"{cdn}/apm/{d}/{h}/{name.replace('in_gate', '..%2F..%2Fpwned-4')}",
        f"{cdn}/apm/{d}/{h}/%2Fetc%2Fpwned-5-in_gate.jpeg",
        "/etc/pwned-6-in_gate.jpeg",  # an absolute path on the page's own host
        f"/cdn/pct/{d}/{h}/{name}",  # another terminal
        f"{far}/cdn/apm/{d}/{h}/{name}",  # another host, a well-formed capture
        f"//127.0.0.2:{evil.port}/cdn/apm/{d}/{h}/{name}",  # protocol-relative
        f"https://127.0.0.1:{site.replica.port}/cdn/apm/{d}/{h}/{name}",  # another scheme
        f"http://user:pw@127.0.0.1:{site.replica.port}/cdn/apm/{d}/{h}/{name}",
        rep.thumb_url("out_gate", other_stream),  # another stream
        rep.thumb_url("in_gate", other_day),  # a real capture of another local day
        rep.thumb_url("in_gate", some),  # a duplicate of a real capture
        f"{cdn}/apm/{d}/25/{d}T25:61:00-in_gate.jpeg",
        f"{cdn}/apm/{d}/7/{d}T07:00:60-in_gate.jpeg",
        f"{cdn}/apm/{d}/07/{d}T07:00:00-in_gate.jpeg",  # a padded hour folder
        f"{cdn}/apm/{d}/8/{d}T07:00:00-in_gate.jpeg",  # the wrong hour folder
        f"{cdn}/apm/2025-02-30/1/2025-02-30T01:00:00-in_gate.jpeg",
        f"{cdn}/apm/{d}/1/{d}T01:00:00.5-in_gate.jpeg",
        f"{cdn}/apm/{d}/1/{d}T01:00:00Z-in_gate.jpeg",
        f"{cdn}/apm/{d}/1/{d}T01:00:00-in_gat%C3%A9.jpeg",
        f"{cdn}/apm/{d}/1/{d}T01:00:00-in_gate%00.jpeg",
        f"{cdn}/apm/{d}/1/pwned-7.jpeg?name={d}T01:00:00-in_gate.jpeg&to=../../x",
        f"{cdn}/apm/{'a' * 8000}.jpeg",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E",
        "about:blank",
        "",
    ]
    for i in range(MANY):  # thousands: well-formed captures of the day, all on another host
        ts = start + timedelta(seconds=7 * i + 1)
        urls.append(f"{far}/cdn/apm/{ts:%Y-%m-%d}/{ts.hour}/{rep.stamp(ts)}-in_gate.jpeg")
    return urls


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_hostile_page_writes_nothing_outside_and_asks_no_other_host(
    make_site: Any, evil: Replica, sandbox: dict[str, Path]
) -> None:
    site = make_site(days=4, api_delay=0.0, gallery="eager")
    site.replica.catch_all = True
    day = site.day(-1)
    trim(site, "in_gate", day, 10)
    trim(site, "in_gate", site.day(-2), 10)
    # A real capture of another local day that the hostile page lists too. dogcli trusts the
    # History (SITE.md): it keeps it, in the folder of its own local day.
    other = next(s for s in site.dataset.captures("in_gate", site.day(-3))[5:] if s.has_full)
    other_rel = rel_path_of(site.replica, "in_gate", site.replica.stamp(other.utc))
    assert other_rel.startswith(f"images/apm/in_gate/{site.day(-3)}/")
    data_dir = sandbox["root"] / "data"
    env = cli_env(site.env, DOGCLI_DATA_DIR=str(data_dir), HOME=str(sandbox["home"]),
                  TMPDIR=str(sandbox["tmp"]), DOGCLI_STREAMS="in_gate")  # fmt: skip
    tmp_before = set(os.listdir(tempfile.gettempdir()))

    # The same run on an ordinary day first: the memory the hostile page is compared with.
    baseline = run_cli("backfill", str(site.day(-2)), env=env, cwd=sandbox["cwd"])
    assert baseline.code == 0, baseline.err
    urls = hostile_urls(site, evil, day, other.utc)
    site.replica.history_extra[("in_gate", day)] = urls
    site.replica.reset_stats()
    ran = run_cli("-v", "backfill", str(day), env=env, cwd=sandbox["cwd"])
    assert ran.code == 0, ran.err
    numbers = summary_numbers(ran.out)
    assert (numbers["found"], numbers["downloaded"], numbers["failed"]) == (11, 11, 0)
    assert "Traceback" not in ran.err

    # Only the real captures, inside the data dir; nothing in the working dir or elsewhere.
    expected = expected_bytes(site.replica, ("in_gate",), [site.day(-2), day])
    expected[other_rel] = site.replica.image_bytes("in_gate", other.utc, "full")
    assert_complete(archive_state(data_dir), expected)
    images = {f for f in _files(data_dir) if f.startswith("images/")}
    assert images == set(expected)
    assert _files(sandbox["cwd"]) == set()
    assert not any("pwned" in f for f in _files(sandbox["root"]))
    tmp_after = set(os.listdir(tempfile.gettempdir())) - tmp_before
    assert not any("pwned" in name for name in tmp_after)
    assert list(sandbox["tmp"].iterdir()) == []  # the browser profile is gone too

    # The browser showed everything; dogcli asked only the configured CDN, for real captures.
    ignored = ran.err.count("ignored URL ")  # dogcli read them from the page, and let them be
    assert ignored >= MANY, ignored
    # Chromium loads the page's images (it must, for a lazy gallery to show its URLs), so the
    # other host hears from the browser: proof that the page listed them. Never from dogcli.
    browser_loads = [r for r in evil.requests if not r.agent.startswith("dogcli/")]
    assert browser_loads, "the hostile URLs never reached the page"
    assert [r for r in evil.requests if r.agent.startswith("dogcli/")] == []
    instants = [s.utc for s in site.dataset.captures("in_gate", day)] + [other.utc]
    real = {"/cdn" + site.replica.cdn_path("in_gate", utc, v)
            for utc in instants for v in ("full", "thumbnail")}  # fmt: skip
    mine = [r.path for r in site.replica.requests if r.agent.startswith("dogcli/")]
    assert mine and all(p.replace("%3A", ":") in real for p in mine), mine

    # The same page again: everything is had, nothing is asked of any CDN (the capture of
    # another local day included: it is looked up in its own day).
    site.replica.reset_stats()
    evil.reset_stats()
    again = run_cli("backfill", str(day), env=env, cwd=sandbox["cwd"])
    assert again.code == 0, again.err
    numbers = summary_numbers(again.out)
    assert (numbers["found"], numbers["already"], numbers["downloaded"]) == (11, 11, 0)
    assert [r for r in site.replica.requests if r.agent.startswith("dogcli/")] == []
    assert [r for r in evil.requests if r.agent.startswith("dogcli/")] == []
    assert_complete(archive_state(data_dir), expected)

    growth = (ran.max_rss_kib - baseline.max_rss_kib) / 1024
    record("hostile_page", hostile_urls=len(urls),
           urls_read_and_ignored=ignored, dogcli_requests_to_other_host=0,
           files_outside_data_dir=0, captures_stored=11,
           browser_requests_to_other_host=len(browser_loads),
           peak_rss_mib=round(ran.max_rss_kib / 1024, 1),
           peak_rss_mib_plain_day=round(baseline.max_rss_kib / 1024, 1))  # fmt: skip
    assert growth < 64, (ran.max_rss_kib, baseline.max_rss_kib)


@pytest.mark.parametrize("where", ["page", "gallery"])
def test_a_page_that_never_finishes_loading(make_site: Any, where: str) -> None:
    """The document itself, or the gallery's API call, never answers: the run gives up after
    its page timeout and retries, exits 1 naming the page, and writes no image."""
    site = make_site(days=2, api_delay=0.0)
    faults = site.replica.faults
    faults.hang_seconds = 60
    if where == "page":
        faults.page("always:hang")
    else:
        faults.api("always:hang")
    env = cli_env(site.env, DOGCLI_PAGE_TIMEOUT="3", DOGCLI_MAX_RETRIES="1",
                  DOGCLI_STREAMS="in_gate")  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(cli_command("backfill", str(site.day(-1))), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        kill_group(proc)
    seconds = time.monotonic() - started
    assert proc.returncode == 1, err.decode()
    assert b"failed 1" in out and b"page in_gate" in err, (out, err)
    assert b"Traceback" not in err
    assert not (site.data_dir / "images").exists() or not list(
        (site.data_dir / "images").rglob("*.jpg")
    )
    assert seconds < 40, seconds
    record(f"never_loading_{where}", exit_code=1, seconds=round(seconds, 1),
           page_timeout_s=3, attempts=2)  # fmt: skip

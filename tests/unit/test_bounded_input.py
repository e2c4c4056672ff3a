"""Bounded input (issue 15, §6): stamps out of range are rejected by parsing, never raised;
a day range that cannot be meant is refused before anything starts; URLs in settings that no
request can use (a broken IPv6 literal, a port out of range) are refused in one line, exit 2."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dogcli.model.captures import Zones, capture_from_path, parse_image_url
from dogcli.model.days import EARLIEST_DAY, MAX_RANGE_DAYS, parse_range
from dogcli.model.errors import UsageError

CDN = "http://127.0.0.1:8123/cdn"
LA, UTC_ZONE = ZoneInfo("America/Los_Angeles"), ZoneInfo("UTC")
# (site zone, URL zone): the real site's, and two where the ends of the calendar overflow.
ZONES = {
    "la-site-utc-urls": Zones(LA, UTC_ZONE),
    "utc-site-la-urls": Zones(UTC_ZONE, LA),
    "kiritimati-site-la-urls": Zones(ZoneInfo("Pacific/Kiritimati"), LA),
}
EDGE_STAMPS = ["0001-01-01T00:00:00", "0001-01-01T07:59:59", "9999-12-31T23:59:59",
               "9999-12-31T00:00:00", "1969-12-31T00:00:00"]  # fmt: skip


def _url(stamp: str, stream: str = "in_gate") -> str:
    return f"{CDN}/apm/{stamp[:10]}/{int(stamp[11:13])}/{stamp}-{stream}.jpeg"


@pytest.mark.parametrize("name", list(ZONES))
@pytest.mark.parametrize("stamp", EDGE_STAMPS)
def test_a_stamp_out_of_range_is_rejected_never_raised(name: str, stamp: str) -> None:
    zones = ZONES[name]
    with pytest.raises(ValueError):  # not OverflowError: callers handle ValueError
        zones.capture("apm", "in_gate", stamp)
    assert parse_image_url(_url(stamp), CDN, "apm", zones) is None
    compact = stamp.replace("-", "").replace(":", "")
    for name_on_disk in (f"in_gate_{compact}Z.jpg", f"in_gate_{compact}.jpg"):
        assert capture_from_path("apm", "in_gate", name_on_disk, zones) is None


@pytest.mark.parametrize("name", list(ZONES))
def test_a_gallery_with_an_out_of_range_stamp_keeps_its_other_captures(name: str) -> None:
    zones = ZONES[name]
    urls = [_url(s) for s in EDGE_STAMPS] + [_url("2025-09-06T07:03:17")]
    parsed = [parse_image_url(u, CDN, "apm", zones) for u in urls]
    kept = [p[0].url_ts for p in parsed if p is not None]
    assert kept == ["2025-09-06T07:03:17"]


def test_parse_range_bounds() -> None:
    today = date(2025, 9, 10)
    assert parse_range("2025-09-01..2025-09-10", today) == (date(2025, 9, 1), today)
    first = today - timedelta(days=MAX_RANGE_DAYS - 1)
    assert parse_range(f"{first}..{today}", today) == (first, today)  # the longest allowed
    with pytest.raises(UsageError, match=f"more than {MAX_RANGE_DAYS}"):
        parse_range(f"{first - timedelta(days=1)}..{today}", today)
    assert parse_range(str(EARLIEST_DAY), today) == (EARLIEST_DAY, EARLIEST_DAY)
    with pytest.raises(UsageError, match="1999-12-31 is before 2000-01-01"):
        parse_range("1999-12-31", today)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(folder))
    # Were a range taken, the run would stop at the browser at once (not hang on a site).
    monkeypatch.setenv("DOGCLI_CHROME_BINARY", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("DOGCLI_SITE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DOGCLI_CDN_URL", "http://127.0.0.1:9/cdn")
    return folder


@pytest.mark.parametrize(
    ("days", "words"),
    [
        ("0025-09-01..2025-09-10", "bad range '0025-09-01..2025-09-10': 0025-09-01 is before "
                                   "2000-01-01"),
        ("1999-12-31..2000-01-05", "1999-12-31 is before 2000-01-01"),
        ("2000-01-01..2025-09-10", f"9385 days, more than {MAX_RANGE_DAYS}"),
    ],
)  # fmt: skip
def test_backfill_refuses_a_range_that_cannot_be_meant(
    cli: Any, data_dir: Path, days: str, words: str
) -> None:
    ran = cli("backfill", days)
    assert ran.code == 2, ran.err
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], ran.err
    assert not data_dir.exists()  # refused before the lock, the catalog or the browser


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DOGCLI_SITE_URL", "http://[::1"),
        ("DOGCLI_SITE_URL", "https://[not-an-address]/"),
        ("DOGCLI_CDN_URL", "http://127.0.0.1:99999/cdn"),
        ("DOGCLI_CDN_URL", "http://cdn.example:0/cdn"),
        ("DOGCLI_CDN_URL", "http://cdn.example:http/cdn"),
    ],
)
def test_an_unusable_url_setting_is_refused_in_one_line(
    cli: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    for args in (["stats"], ["config", "show"]):
        ran = cli(*args)
        assert ran.code == 2, (args, ran.out, ran.err)
        lines = ran.err.strip().splitlines()
        assert len(lines) == 1, ran.err
        assert f"{variable} must be an http(s) URL, got {value!r}" in lines[0]


def test_an_unusable_url_in_the_config_file_is_refused(
    cli: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOGCLI_CDN_URL")  # it would win over the file
    config = data_dir.parent / "dogcli.toml"
    config.write_text('[dogcli]\ncdn_url = "http://127.0.0.1:99999/cdn"\n')
    ran = cli("--config", str(config), "stats")
    assert ran.code == 2
    assert "cdn_url (in dogcli.toml) must be an http(s) URL" in ran.err
    assert len(ran.err.strip().splitlines()) == 1


def test_a_ping_url_with_a_bad_port_is_refused_without_echoing_it(
    cli: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_PING_URL", "https://hc-ping.com:99999/SECRETKEY")
    ran = cli("stats")
    assert ran.code == 2
    assert "DOGCLI_PING_URL must be an http(s) URL" in ran.err and "SECRETKEY" not in ran.err


@pytest.mark.parametrize(
    "value", ["http://[::1]:8123/cdn", "https://cdn.draydog.com", "http://127.0.0.1:65535/x"]
)
def test_usable_urls_are_still_taken(
    cli: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("DOGCLI_CDN_URL", value)
    ran = cli("config", "show", "--json")
    assert ran.code == 0, ran.err
    assert f'"value": "{value}"' in ran.out

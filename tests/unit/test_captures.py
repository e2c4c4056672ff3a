from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dogcli.model.captures import (
    FULL,
    THUMBNAIL,
    Zones,
    capture_from_path,
    parse_image_url,
)

CDN = "http://127.0.0.1:8123/cdn"
ZONES = Zones(ZoneInfo("America/Los_Angeles"), ZoneInfo("UTC"))


def parse(url: str, cdn: str = CDN) -> Any:
    return parse_image_url(url, cdn, "apm", ZONES)


def test_parses_full_and_thumbnail_urls() -> None:
    full = parse(f"{CDN}/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg")
    thumb = parse(f"{CDN}/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate-thumbnail.jpeg")
    assert full is not None and thumb is not None
    assert full[0] == thumb[0]
    assert full[0].stream == "in_gate" and full[0].url_ts == "2025-09-06T07:03:17"
    assert full[0].taken == datetime(2025, 9, 6, 7, 3, 17, tzinfo=UTC)
    assert full[0].day == date(2025, 9, 6)  # 00:03 in Los Angeles
    assert (full[1], thumb[1]) == (FULL, THUMBNAIL)


def test_percent_encoded_colons_are_accepted() -> None:
    url = f"{CDN}/apm/2025-09-06/23/2025-09-06T23%3A07%3A34-out_gate.jpeg"
    parsed = parse(url)
    assert parsed is not None and parsed[0].url_ts == "2025-09-06T23:07:34"


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example/cdn/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg",
        "http://127.0.0.1:9999/cdn/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg",
        "https://127.0.0.1:8123/cdn/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg",
        f"{CDN}/apm/2025-09-06/07/2025-09-06T07:03:17-in_gate.jpeg",  # padded hour
        f"{CDN}/apm/2025-09-06/00/2025-09-06T00:20:27-in_gate.jpeg",  # padded hour 0
        f"{CDN}/apm/2025-09-06/8/2025-09-06T07:03:17-in_gate.jpeg",  # hour mismatch
        f"{CDN}/apm/2025-09-07/7/2025-09-06T07:03:17-in_gate.jpeg",  # day mismatch
        f"{CDN}/apm/2025-09-05/0/2025-09-06T00:20:27-in_gate.jpeg",  # local day as folder
        f"{CDN}/apm/2025-09-06/24/2025-09-06T00:20:27-in_gate.jpeg",
        f"{CDN}/other/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg",  # terminal
        f"{CDN}/apm/2025-09-06/7/../../etc/passwd",
        f"{CDN}/apm/2025-09-06/7/..%2F..%2F2025-09-06T07:03:17-in_gate.jpeg",
        f"{CDN}/apm/2025-02-30/7/2025-02-30T07:03:17-in_gate.jpeg",  # no such day
        f"{CDN}/apm/2025-09-06/7/2025-09-06T07:03:61-in_gate.jpeg",
        f"{CDN}/apm/2025-09-06/7/2025-09-06T07:03:17-IN_GATE.jpeg",
        f"{CDN}/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.png",
        f"{CDN}/apm/2025-09-06/7/2025-09-06T07:03:17-in gate.jpeg",
        f"{CDN}/apm/2025-09-06/7/2025-9-6T07:03:17-in_gate.jpeg",
        "/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg",
        "data:image/jpeg;base64,AAAA",
        "http://[::1",
    ],
)
def test_rejects_anything_not_strictly_a_capture(url: str) -> None:
    assert parse(url) is None


def test_cdn_without_path_prefix() -> None:
    base = "https://cdn.draydog.com"
    url = f"{base}/apm/2025-09-06/0/2025-09-06T00:20:27-in_gate.jpeg"
    parsed = parse(url, base)
    assert parsed is not None
    assert parsed[0].url(base) == url
    assert parsed[0].url(base, THUMBNAIL) == url.replace(".jpeg", "-thumbnail.jpeg")


def test_paths_and_times() -> None:
    capture = ZONES.capture("apm", "in_gate", "2025-09-06T07:03:17")
    assert capture.rel_path == "images/apm/in_gate/2025-09-06/in_gate_20250906T070317Z.jpg"
    assert capture.day == date(2025, 9, 6)
    assert capture.taken == datetime(2025, 9, 6, 7, 3, 17, tzinfo=UTC)
    assert capture.url(CDN).endswith("/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg")
    assert capture_from_path("apm", "in_gate", "in_gate_20250906T070317Z.jpg", ZONES) == (
        capture,
        False,
    )
    assert capture_from_path("apm", "in_gate", "in_gate_20250906T070317.jpg", ZONES) == (
        capture,
        True,
    )
    assert capture_from_path("apm", "in_gate", "out_gate_20250906T070317Z.jpg", ZONES) is None
    assert capture_from_path("apm", "in_gate", "in_gate_20250931T070317Z.jpg", ZONES) is None
    assert capture_from_path("apm", "in_gate", "in_gate_20250906T070317z.jpg", ZONES) is None
    assert capture_from_path("apm", "in_gate", ".tmp-in_gate_20250906T070317Z.jpg.1", ZONES) is None


@pytest.mark.parametrize(
    ("terminal", "stream", "ts"),
    [("apm", "in_gate", "2025-09-06 07:03:17"), ("APM", "in_gate", "2025-09-06T07:03:17"),
     ("apm", "../x", "2025-09-06T07:03:17"), ("apm", "in_gate", "2025-09-06T7:03:17"),
     ("apm", "in_gate", "2025-09-06T07:03:17Z"), ("apm", "in_gate", "2025-09-31T07:03:17")],
)  # fmt: skip
def test_capture_is_strict(terminal: str, stream: str, ts: str) -> None:
    with pytest.raises(ValueError):
        ZONES.capture(terminal, stream, ts)

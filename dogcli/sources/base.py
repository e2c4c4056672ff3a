"""What the collect job needs from the outside world, as small protocols: a Discoverer (which
captures a page lists) and a Downloader (a capture's image bytes), with the values they return.
Naming them here keeps Selenium and requests out of every module that only passes them on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from dogcli.model.captures import Capture


@dataclass(frozen=True)
class Found:
    capture: Capture
    variant: str  # which image the page showed; the CDN client decides what to keep


@dataclass(frozen=True)
class Downloaded:
    capture: Capture
    variant: str
    url: str
    data: bytes
    sha256: str


class DownloadFailed(Exception):
    """The capture could not be downloaded within the retry budget."""


class FullSizeMissing(DownloadFailed):
    """The full size of a capture kept as a thumbnail is still a 404."""


class Discoverer(Protocol):
    """Which captures the page lists for a (stream, local day)."""

    def discover(self, stream: str, day: date) -> list[Found]: ...


class Downloader(Protocol):
    """Fetches a capture's image: full size first, the thumbnail when allowed."""

    def download(self, capture: Capture, thumbnail: bool = True) -> Downloaded: ...
    def close(self) -> None: ...

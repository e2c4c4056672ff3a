"""ReplicaConfig: the options of one replica (page variant, clock, zones, delays, address)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .dataset import Clock, Dataset

GALLERY_MODES = ("window-lazy", "container-lazy", "eager")
PAGE_ZONES = ("site", "browser")


@dataclass(frozen=True)
class ReplicaConfig:
    """How a replica serves its dataset; ``Replica(dataset, config)`` takes it.

    Time: ``timezone`` (None: the dataset's) is the site's zone, whose local days the page
    shows. ``url_timezone`` is the zone of the stamps in CDN URLs ("UTC" like the real site;
    the site's zone reproduces the older, wrong assumption). ``now`` is the site clock: an
    aware datetime, a naive site-local one, or a callable returning either (None: the real
    clock); it decides "today", the disabled days, which captures are published and which
    full sizes are served. ``page_zone="browser"`` makes the page compute a day's range in
    the browser's own zone.

    Page variants (SITE.md leaves them open): ``gallery`` ("window-lazy", "container-lazy",
    "eager"), ``page_size`` (None: one page; N: ``el-pagination``), ``loading_mask``,
    ``heading``, ``no_camera`` (streams whose page says "No camera found"), ``live_count``
    (images in the live strip).

    Serving: ``api_delay`` (s before each API answer), ``cdn_latency`` (s before each CDN
    answer), ``keepalive_timeout`` (idle s before a kept-alive connection is dropped),
    ``host``/``port`` (0 picks a free port), ``extra_datasets`` (more terminals on the same
    server, by name: their pages, API and CDN paths answer from their own dataset).

    Build variants with ``config.replace(gallery="eager")`` (``dataclasses.replace``).
    """

    api_delay: float = 0.3
    cdn_latency: float = 0.0
    timezone: str | None = None
    url_timezone: str = "UTC"
    now: Clock | None = None
    live_count: int = 4
    keepalive_timeout: float = 30.0
    gallery: str = "window-lazy"
    page_size: int | None = None
    loading_mask: bool = True
    heading: str = "History"
    no_camera: Collection[str] = frozenset()
    page_zone: str = "site"
    extra_datasets: Mapping[str, Dataset] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.gallery not in GALLERY_MODES:
            raise ValueError(f"gallery must be one of {GALLERY_MODES}, not {self.gallery!r}")
        if self.page_zone not in PAGE_ZONES:
            raise ValueError(f"page_zone must be one of {PAGE_ZONES}, not {self.page_zone!r}")
        if self.page_size is not None and self.page_size < 1:
            raise ValueError("page_size must be None or >= 1")
        # any iterable of stream names is accepted, e.g. no_camera=("out_gate",)
        object.__setattr__(self, "no_camera", frozenset(self.no_camera))

    def replace(self, **changes: Any) -> ReplicaConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

"""What the collect job behind fetch and backfill reports: to its caller while it runs (a
Reporter, drawn by the CLI) and when it is done (a Summary, journaled and rendered)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """What a job tells its caller while it runs (the CLI draws it)."""

    def planned(self, days: int) -> None: ...
    def day_found(self, stream: str, day: date, found: int, new: int) -> None: ...
    def image_done(self, ok: bool) -> None: ...
    def note(self, message: str) -> None: ...


class QuietReporter:
    def planned(self, days: int) -> None:
        pass

    def day_found(self, stream: str, day: date, found: int, new: int) -> None:
        pass

    def image_done(self, ok: bool) -> None:
        pass

    def note(self, message: str) -> None:
        log.info("%s", message)


@dataclass
class Summary:
    found: int = 0
    new: int = 0
    full: int = 0
    thumbnail: int = 0
    already: int = 0
    failed: int = 0
    recovered: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # run-level problems (catalog, disk)
    catalog_down: bool = False
    pages: int = 0
    pages_failed: int = 0
    no_camera: list[str] = field(default_factory=list)  # streams whose page has no camera
    retried: int = 0  # remembered failures tried again without reading their page
    upgraded: int = 0  # thumbnails replaced by their full size

    @property
    def downloaded(self) -> int:
        return self.full + self.thumbnail

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    @property
    def outcome(self) -> str:
        """ok; failed when no page could be read at all; partial otherwise."""
        if self.ok:
            return "ok"
        if self.pages and self.pages_failed == self.pages:
            return "failed"
        return "partial"

    def record_counts(self, run: Any) -> None:
        """Copy the counts so far into a run-journal entry (also of an interrupted run)."""
        run.found, run.new, run.failed, run.bytes = self.found, self.new, self.failed, self.bytes

    def record(self, run: Any) -> None:
        """Copy the counts and the outcome into a run-journal entry."""
        self.record_counts(run)
        run.outcome = self.outcome
        problems = self.errors + [f"failed: {f}" for f in self.failures[:3]]
        run.error = "; ".join(problems)

"""What verify found and what --repair did: typed results (rendered by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# Problem kinds, in the order they are reported.
KINDS = ("missing", "size", "sha256", "path", "layout", "invalid", "uncataloged", "leftover",
         "unexpected", "bad_row", "cdn_differs")  # fmt: skip
# Found by repair, not by the check: a file kept and cataloged as it is although the CDN now
# serves other bytes for its URL (not a failure: nothing is left to repair).
CDN_DIFFERS = "cdn_differs"
DOWNLOAD_KINDS = frozenset({"missing", "size", "sha256", "invalid"})


@dataclass(frozen=True)
class Problem:
    kind: str
    path: str  # relative to the data dir
    detail: str = ""
    stream: str | None = None
    url_ts: str | None = None


@dataclass
class VerifyReport:
    repair: bool
    deep: bool
    since: date | None
    rows: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)
    downloaded: int = 0
    cataloged: int = 0
    removed: int = 0
    quarantined: int = 0
    moved: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: VerifyReport) -> VerifyReport:
        """Another terminal's report added to this one."""
        for name in ("rows", "files", "downloaded", "cataloged", "removed", "quarantined",
                     "moved", "seconds"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems
        self.failures += other.failures
        return self

    @property
    def ok(self) -> bool:
        """Nothing wrong (verify), or everything wrong was repaired (verify --repair)."""
        return not self.failures if self.repair else not self.problems

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for problem in self.problems:
            counts[problem.kind] += 1
        return {kind: n for kind, n in counts.items() if n}

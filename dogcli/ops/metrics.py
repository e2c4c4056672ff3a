"""Prometheus text-format metrics for node_exporter's textfile collector.

Every write is complete on its own (derived from the catalog and the run journal), so fetch,
cleanup and health may all write the same file.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from dogcli.catalog.captures import Catalog
from dogcli.catalog.runrecord import RECORDED
from dogcli.catalog.runs import RunJournal
from dogcli.config import Settings
from dogcli.model import clock
from dogcli.storage.local import write_file_atomic

COMMANDS = RECORDED
OUTCOMES = ("ok", "partial", "failed", "skipped", "interrupted")


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + inner + "}" if inner else ""


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._declared: set[str] = set()

    def gauge(
        self, name: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        samples = list(samples)
        if name not in self._declared:
            self.lines.append(f"# HELP {name} {help_text}")
            self.lines.append(f"# TYPE {name} gauge")
            self._declared.add(name)
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(**labels)} {value:.17g}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _ts(moment: datetime | None) -> float:
    return moment.astimezone(UTC).timestamp() if moment else 0.0


def render(settings: Settings, catalog: Catalog, health_status: int | None = None) -> str:
    journal = RunJournal(catalog)
    now = clock.now()
    stats = catalog.stream_stats(settings.terminal, settings.streams, now, now)
    w = _Writer()
    streams = list(settings.streams)
    w.gauge("dogcli_archive_captures", "Captures in the catalog.",
            (({"stream": s}, stats.get(s, {}).get("count", 0)) for s in streams))  # fmt: skip
    w.gauge("dogcli_archive_bytes", "Bytes of the cataloged images.",
            (({"stream": s}, stats.get(s, {}).get("bytes", 0)) for s in streams))  # fmt: skip
    w.gauge("dogcli_newest_capture_timestamp_seconds", "Capture time of the newest capture.",
            (({"stream": s}, _ts(stats.get(s, {}).get("last"))) for s in streams))  # fmt: skip
    w.gauge(
        "dogcli_last_success_timestamp_seconds",
        "When the newest ok or partial run of a command covering the stream finished.",
        (
            ({"command": c, "stream": s}, _ts(journal.last_success(c, s)))
            for c in ("fetch", "backfill")
            for s in streams
        ),
    )
    w.gauge("dogcli_last_success_command_timestamp_seconds",
            "When the newest ok or partial run of a command finished.",
            (({"command": c}, _ts(journal.last_success(c))) for c in COMMANDS))  # fmt: skip
    last = journal.last_by_command(COMMANDS)
    runs = [(c, last[c]) for c in COMMANDS if c in last]
    w.gauge("dogcli_last_run_timestamp_seconds", "When the last run of a command started.",
            (({"command": c}, _ts(r.started_at)) for c, r in runs))  # fmt: skip
    w.gauge("dogcli_last_run_duration_seconds", "How long the last run of a command took.",
            (({"command": c}, r.seconds or 0.0) for c, r in runs))  # fmt: skip
    w.gauge("dogcli_last_run_failures", "Captures that failed in the last run of a command.",
            (({"command": c}, r.failed) for c, r in runs))  # fmt: skip
    w.gauge("dogcli_last_run_outcome", "1 for the outcome of the last run of a command.",
            (({"command": c, "outcome": o}, 1.0 if r.outcome == o else 0.0)
             for c, r in runs for o in OUTCOMES))  # fmt: skip
    if health_status is not None:
        w.gauge("dogcli_health_status", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
                [({}, health_status)])  # fmt: skip
    return w.text()


def write_metrics(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, text.encode())

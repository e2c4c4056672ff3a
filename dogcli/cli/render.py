"""The words and JSON of every result: the summary line of fetch, backfill and cleanup,
verify's report, health's monitoring-plugin lines, and what each `--json` prints. The
results are plain data (jobs/, reports/); how they read is decided here only. Tables and
pictures are in tables.py, progress and logging in progress.py."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from dogcli.cli.env import Environment
from dogcli.model.redact import redact_url

if TYPE_CHECKING:
    from dogcli.jobs.cleanup import CleanupResult
    from dogcli.jobs.summary import Summary
    from dogcli.jobs.verify_report import VerifyReport
    from dogcli.reports.gaps import GapReport
    from dogcli.reports.health import HealthReport
    from dogcli.reports.stats import StatsReport, TerminalStats


class Console:
    """stdout for results, stderr for errors; quiet hides everything but errors and data."""

    def __init__(self, env: Environment | None = None, quiet: bool = False) -> None:
        self.env = env if env is not None else Environment()
        self.quiet = quiet

    def data(self, text: str) -> None:
        """Data on stdout, shown even with --quiet (JSON, the plugin lines)."""
        self.env.out(text, flush=True)

    def summary(self, line: str) -> None:
        if not self.quiet:
            self.env.out(redact_url(line), flush=True)

    def note(self, line: str) -> None:
        """A remark on stderr (stdout stays data), hidden by --quiet."""
        if not self.quiet:
            self.env.err(f"dogcli: {redact_url(line)}")

    def error_line(self, line: str) -> None:
        self.env.err(f"dogcli: {redact_url(line)}")


def summary_line(summary: Summary) -> str:
    """fetch's and backfill's one line (after `COMMAND: `)."""
    parts = [
        f"found {summary.found}",
        f"new {summary.new}",
        f"downloaded {summary.downloaded} ({summary.full} full, {summary.thumbnail} thumbnail)",
        f"already had {summary.already}",
        f"failed {summary.failed}",
    ]
    if summary.recovered:
        parts.append(f"recovered {summary.recovered}")
    if summary.retried:
        parts.append(f"retried {summary.retried}")
    if summary.upgraded:
        parts.append(f"upgraded {summary.upgraded} to full size")
    if summary.no_camera:
        parts.append(f"no camera: {', '.join(summary.no_camera)}")
    parts.append(f"{summary.seconds:.1f}s")
    return ", ".join(parts)


def summary_json(summary: Summary, command: str) -> dict[str, Any]:
    """What `--json` prints: the counts of summary_line() and every failure."""
    return {
        "command": command,
        "outcome": summary.outcome,
        "found": summary.found,
        "new": summary.new,
        "downloaded": summary.downloaded,
        "full": summary.full,
        "thumbnail": summary.thumbnail,
        "already_had": summary.already,
        "failed": summary.failed,
        "deleted": 0,
        "recovered": summary.recovered,
        "retried": summary.retried,
        "upgraded": summary.upgraded,
        "bytes": summary.bytes,
        "seconds": round(summary.seconds, 3),
        "no_camera": list(summary.no_camera),
        "failures": list(summary.failures),
        "errors": list(summary.errors),
    }


def cleanup_line(result: CleanupResult) -> str:
    verb = "would delete" if result.dry_run else "deleted"
    text = f"{verb} {result.deleted} captures ({_mib(result.bytes)}) from before {result.cutoff}"
    if result.orphans:
        text += f", {result.orphans} uncataloged files"
    if result.disk_percent_after is not None:
        text += f"; disk {result.disk_percent_before:.1f}% -> {result.disk_percent_after:.1f}%"
    return f"{text}, {result.seconds:.1f}s"


def cleanup_json(result: CleanupResult) -> dict[str, Any]:
    """What `--json` prints; the counts fetch and backfill share are there too (0)."""
    return {
        "command": "cleanup",
        "outcome": "ok" if result.ok else "failed",
        "dry_run": result.dry_run,
        "cutoff": result.cutoff.isoformat(),
        "found": 0,
        "new": 0,
        "downloaded": 0,
        "thumbnail": 0,
        "already_had": 0,
        "failed": 0 if result.ok else 1,
        "deleted": result.deleted,
        "bytes": result.bytes,
        "orphans": result.orphans,
        "folders": result.folders,
        "disk_percent_before": _round(result.disk_percent_before),
        "disk_percent_after": _round(result.disk_percent_after),
        "seconds": round(result.seconds, 3),
        "failures": [result.error] if result.error else [],
    }


def verify_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "repair": report.repair,
        "deep": report.deep,
        "since": report.since.isoformat() if report.since else None,
        "rows": report.rows,
        "files": report.files,
        "counts": report.counts(),
        "problems": [asdict(p) for p in report.problems],
        "repaired": {
            "downloaded": report.downloaded,
            "cataloged": report.cataloged,
            "removed": report.removed,
            "quarantined": report.quarantined,
            "moved": report.moved,
        },
        "failures": report.failures,
        "seconds": round(report.seconds, 3),
    }


def verify_lines(report: VerifyReport, limit: int = 50) -> list[str]:
    how = "sizes and sha256" if report.deep else "sizes"
    counts = report.counts()
    head = f"verify: {report.rows} rows, {report.files} files checked ({how})"
    if report.since:
        head += f" from {report.since}"
    if counts:
        head += f"; {len(report.problems)} problems: " + ", ".join(
            f"{n} {kind}" for kind, n in counts.items()
        )
    else:
        head += "; catalog and disk agree"
    out = [f"{head}, {report.seconds:.1f}s"]
    for problem in report.problems[:limit]:
        what = f"  {problem.kind}: {problem.path}"
        out.append(f"{what} ({problem.detail})" if problem.detail else what)
    if len(report.problems) > limit:
        out.append(f"  ... and {len(report.problems) - limit} more")
    if report.repair:
        out.append(
            f"repaired: downloaded {report.downloaded}, cataloged {report.cataloged}, "
            f"moved {report.moved}, removed {report.removed} leftovers, "
            f"quarantined {report.quarantined}, "
            f"failed {len(report.failures)}"
        )
        out.extend(f"  failed: {failure}" for failure in report.failures[:limit])
    return out


def health_plugin_lines(report: HealthReport) -> list[str]:
    """The monitoring-plugin format (Nagios, Icinga, Sensu, Checkmk): a status line
    `DOGCLI STATUS: worst finding | perfdata`, then one line per check."""
    from dogcli.reports.health import EXIT_CODES, OK, SEVERITY

    status = report.status
    worst = [c for c in report.checks if c.status == status]
    if not report.checks:
        finding = "no checks ran"
    elif status == OK:
        finding = f"all {len(report.checks)} checks OK"
    else:
        finding = f"{worst[0].name}: {worst[0].message}"
        if len(worst) > 1:
            finding += f" (and {len(worst) - 1} more {status.upper()})"
    line = f"DOGCLI {status.upper()}: {' '.join(finding.split()).replace('|', '/')}"
    if report.perfdata:
        line += " | " + " ".join(p.text() for p in report.perfdata)
    ordered = sorted(report.checks, key=lambda c: -SEVERITY[c.status])
    width = max(len(s) for s in EXIT_CODES)
    rest = [f"{c.status.upper():<{width}}  {c.name}: {c.message}" for c in ordered]
    return [line, *(r.replace("|", "/") for r in rest)]


def health_json(report: HealthReport) -> dict[str, Any]:
    """The same object the health job writes to the data dir's .health file."""
    return report.as_json()


def gap_json(report: GapReport) -> dict[str, Any]:
    late = {(d.stream, d.day) for d, _hours in report.incomplete}
    return {
        "terminal": report.terminal,
        "generated_at": report.generated_at.isoformat().replace("+00:00", "Z"),
        "settle_hours": report.settle_hours,
        "days": [{**d.as_json(), "incomplete": (d.stream, d.day) in late} for d in report.days],
    }


def gaps_json(reports: list[GapReport]) -> dict[str, Any]:
    """One terminal: its report; several: `{"terminals": {T: report}}`."""
    if len(reports) == 1:
        return gap_json(reports[0])
    return {"terminals": {r.terminal: gap_json(r) for r in reports}}


def runs_json(runs: list[Any]) -> dict[str, Any]:
    return {"runs": [r.as_json() for r in runs]}


def stats_json(report: StatsReport) -> dict[str, Any]:
    """One terminal: its report; several: `{"terminals": {T: report}}` with the parts every
    terminal shares (generated_at, timezone, last_runs) also at the top."""
    if not report.several:
        return _terminal_stats_json(report.terminals[0])
    first = report.terminals[0]
    return {
        "generated_at": _iso(first.generated_at),
        "timezone": first.timezone,
        "terminals": {t.terminal: _terminal_stats_json(t) for t in report.terminals},
        "last_runs": _runs_by_command(first),
    }


def _terminal_stats_json(report: TerminalStats) -> dict[str, Any]:
    return {
        "terminal": report.terminal,
        "generated_at": _iso(report.generated_at),
        "timezone": report.timezone,
        "streams": {
            s.stream: {
                "count": s.count,
                "bytes": s.bytes,
                "first": _iso(s.first),
                "last": _iso(s.last),
                "last_hour": s.last_hour,
                "last_24h": s.last_24h,
                "today": s.today,
                "today_expected": s.today_expected,
                "today_coverage": s.today_coverage,
            }
            for s in report.streams.values()
        },
        "last_runs": _runs_by_command(report),
    }


def _runs_by_command(report: TerminalStats) -> dict[str, Any]:
    return {command: run.as_json() for command, run in report.last_runs.items()}


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _iso(value: Any) -> str | None:
    """An aware instant as UTC ISO text with a Z (the JSON's one time format)."""
    from datetime import UTC

    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"

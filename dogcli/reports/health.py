"""dogcli health: is the archive current and the machine healthy? Monitoring-plugin exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dogcli.archive.session import Archive, Session
from dogcli.catalog.location import no_archive_message
from dogcli.config import Settings
from dogcli.model import clock
from dogcli.model.errors import CatalogRefused, CatalogUnavailable, DogcliError
from dogcli.model.redact import redact_url
from dogcli.model.status import HealthStatus
from dogcli.storage.local import disk_percent

OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
EXIT_CODES = {
    OK: HealthStatus.OK,
    WARNING: HealthStatus.WARNING,
    CRITICAL: HealthStatus.CRITICAL,
    UNKNOWN: HealthStatus.UNKNOWN,
}
# Worst first wins: a critical check outranks a check that could not tell.
SEVERITY = {OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3}
HEALTH_FILE = ".health"
# A capture stamped later than this after now is not taken as fresh (see _newest_capture).
FUTURE_SLACK = timedelta(minutes=15)


@dataclass
class Check:
    name: str
    status: str
    message: str
    value: float | None = None


@dataclass(frozen=True)
class Perf:
    """A performance-data item of the plugin output: label=value[UOM];warn;crit;min;max"""

    label: str
    value: float
    unit: str = ""
    warn: float | None = None
    crit: float | None = None
    low: float | None = None
    high: float | None = None

    def text(self) -> str:
        fields = [f"{_number(self.value)}{self.unit}"]
        fields += ["" if v is None else _number(v) for v in (self.warn, self.crit, self.low,
                                                               self.high)]  # fmt: skip
        label = self.label if re.fullmatch(r"[\w.:-]+", self.label) else f"'{self.label}'"
        return f"{label}=" + ";".join(fields).rstrip(";")


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


@dataclass
class HealthReport:
    generated_at: str
    checks: list[Check] = field(default_factory=list)
    perfdata: list[Perf] = field(default_factory=list)  # not in --json: its checks say it

    @property
    def status(self) -> str:
        if not self.checks:
            return UNKNOWN
        return max((c.status for c in self.checks), key=SEVERITY.__getitem__)

    @property
    def exit_code(self) -> HealthStatus:
        return EXIT_CODES[self.status]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "generated_at": self.generated_at,
            "checks": [asdict(c) for c in self.checks],
        }


def _grade(value: float, warn: float, crit: float) -> str:
    return CRITICAL if value > crit else WARNING if value > warn else OK


def _age(minutes: float) -> str:
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def run_health(
    settings: Settings,
    now: datetime | None = None,
    disk_usage: Callable[[Path], float] = disk_percent,
    archive: Session | None = None,
) -> HealthReport:
    now = (now or clock.now()).astimezone(UTC)
    report = HealthReport(generated_at=now.isoformat().replace("+00:00", "Z"))
    checks = report.checks
    with contextlib.ExitStack() as stack:
        if archive is None:
            archive = stack.enter_context(Archive.open(settings))
        checks.extend(_catalog_checks(archive, now))
        checks.append(_data_dir_check(archive))
    checks.append(_disk_check(settings, disk_usage))
    report.perfdata = _perfdata(settings, checks)
    return report


def _perfdata(settings: Settings, checks: list[Check]) -> list[Perf]:
    """What a monitor graphs: disk usage in %, each age in seconds, with the thresholds."""
    out: list[Perf] = []
    for check in checks:
        if check.value is None:
            continue
        if check.name == "disk":
            out.append(Perf("disk", check.value, "%", settings.disk_warn_percent,
                            settings.disk_crit_percent, 0, 100))  # fmt: skip
        elif check.name.endswith("completeness"):
            label = check.name.replace("completeness", "incomplete_days")
            out.append(Perf(label, check.value, "", 0, None, 0))
        elif check.name.endswith((".newest_capture", ".last_fetch")):
            out.append(Perf(check.name, round(check.value * 60), "s",
                            settings.stale_warn_minutes * 60, settings.stale_crit_minutes * 60,
                            0))  # fmt: skip
    return out


def _data_dir_check(archive: Session) -> Check:
    data_dir = archive.settings.data_dir
    if not data_dir.is_dir():
        if archive.missing() is not None:  # nothing was ever archived here
            return Check("data_dir", UNKNOWN, f"no archive yet: {data_dir} does not exist")
        return Check("data_dir", CRITICAL, f"{data_dir} does not exist")
    if not os.access(data_dir, os.W_OK | os.X_OK):
        return Check("data_dir", CRITICAL, f"{data_dir} is not writable")
    return Check("data_dir", OK, f"{data_dir} is writable")


def _disk_check(settings: Settings, disk_usage: Callable[[Path], float]) -> Check:
    path = settings.data_dir if settings.data_dir.exists() else settings.data_dir.parent
    try:
        percent = disk_usage(path)
    except OSError as exc:
        return Check("disk", UNKNOWN, f"cannot read disk usage of {path}: {exc.strerror}")
    status = _grade(percent, settings.disk_warn_percent, settings.disk_crit_percent)
    return Check("disk", status, f"{percent:.1f}% used", round(percent, 2))


def _catalog_checks(archive: Session, now: datetime) -> list[Check]:
    from dogcli.catalog.runs import RunJournal

    settings = archive.settings
    missing = archive.missing()
    if missing is not None:  # opening it would create it: health only looks
        return [Check("catalog", UNKNOWN, no_archive_message(missing))]
    try:
        catalog = archive.catalog(min(settings.max_retries, 1), migrate=False)
    except DogcliError as exc:
        return [Check("catalog", CRITICAL, str(exc))]
    checks: list[Check] = []
    try:
        try:
            current, head = catalog.schema_status()
        except (CatalogUnavailable, CatalogRefused) as exc:  # a monitor wants CRITICAL, not 3
            return [Check("catalog", CRITICAL, str(exc))]
        if current != head:
            checks.append(Check(
                "catalog", WARNING,
                f"schema at {current or 'nothing'}, newest is {head} (run: dogcli db upgrade)",
            ))  # fmt: skip
            return checks
        checks.append(Check("catalog", OK, f"reachable, schema at {head}"))
        journal = RunJournal(catalog)
        scope = settings.scope()  # checks of several terminals are named TERMINAL.STREAM.…
        for terminal, streams in scope.by_terminal():
            for stream in streams:
                name = f"{terminal}.{stream}" if scope.several else stream
                checks.append(_newest_capture(settings, catalog, f"{name}.newest_capture",
                                              terminal, stream, now))  # fmt: skip
                success = journal.last_success("fetch", scope.label(terminal, stream))
                checks.append(_staleness(settings, f"{name}.last_fetch", success, now,
                                         "last successful fetch"))  # fmt: skip
        for terminal, streams in scope.by_terminal():
            check = _completeness(settings, catalog, now, terminal, streams)
            if scope.several:
                check.name = f"{terminal}.completeness"
            checks.append(check)
        last = journal.last_by_command(["fetch"]).get("fetch")
        if last is None:
            checks.append(Check("last_fetch_run", UNKNOWN, "no fetch has run yet"))
        else:
            status = {"ok": OK, "partial": WARNING, "failed": CRITICAL,
                      "interrupted": WARNING}.get(last.outcome, WARNING)  # fmt: skip
            detail = f"{last.outcome} at {last.started_at:%Y-%m-%d %H:%M}Z"
            if last.error:
                detail += f": {last.error}"
            checks.append(Check("last_fetch_run", status, detail))
    except CatalogUnavailable as exc:
        checks.append(Check("catalog", CRITICAL, str(exc)))
    return checks


def _completeness(
    settings: Settings, catalog: Any, now: datetime, terminal: str, streams: Sequence[str]
) -> Check:
    """Days past their settle time with captures missing, or never read completely since:
    WARNING, and CRITICAL once DOGCLI_GAP_CRIT_HOURS late. Days are the real local days
    (23 or 25 hours at the DST changes), so a DST night raises nothing."""
    from dogcli.catalog.days import overdue
    from dogcli.catalog.ledger import archive_days

    days = archive_days(settings, catalog, streams, None, now, terminal)
    late = [(d, h) for d in days if (h := overdue(d, settings.zones, settings.settle_hours,
                                                   now)) is not None]  # fmt: skip
    if not late:
        return Check("completeness", OK, f"{len(days)} stream-days complete or not yet due", 0)
    state, hours = max(late, key=lambda item: item[1])
    what = (f"{state.missing} capture{'s' if state.missing != 1 else ''} missing"
            if state.missing else "not read completely since it settled")  # fmt: skip
    others = f" (and {len(late) - 1} more incomplete days)" if len(late) > 1 else ""
    status = CRITICAL if hours > settings.gap_crit_hours else WARNING
    return Check(
        "completeness", status,
        f"{state.stream} {state.day}: {what}{others}; run: dogcli backfill --gaps",
        len(late),
    )  # fmt: skip


def _newest_capture(
    settings: Settings, catalog: Any, name: str, terminal: str, stream: str, now: datetime
) -> Check:
    """How old the newest capture is. A capture stamped after now (a camera's clock, a bad
    URL) would read "0 min ago" for ever after the camera stopped: those past FUTURE_SLACK
    are left out of the age and named, and make the check WARNING at least."""
    newest = catalog.newest_capture_time(terminal, stream)
    horizon = now + FUTURE_SLACK
    if newest is None or newest <= horizon:
        return _staleness(settings, name, newest, now, "newest capture")
    count, first, last, newest = _future_captures(catalog, terminal, stream, horizon)
    check = _staleness(settings, name, newest, now, "newest capture")
    if not count or first is None or last is None:  # deleted between the two queries
        return check
    when = f"{first:%Y-%m-%d %H:%M}Z" + (f" to {last:%Y-%m-%d %H:%M}Z" if last != first else "")
    plural = "capture" if count == 1 else "captures"
    check.message += f"; {count} {plural} stamped in the future ({when}) ignored"
    check.status = max(check.status, WARNING, key=SEVERITY.__getitem__)
    return check


Future = tuple[int, datetime | None, datetime | None, datetime | None]


def _future_captures(catalog: Any, terminal: str, stream: str, horizon: datetime) -> Future:
    """(how many captures lie after horizon, the first and last of them, the newest capture
    up to horizon): asked only when the newest capture is past it."""
    from sqlalchemy import func, select

    from dogcli.catalog.captures import as_utc
    from dogcli.catalog.models import CaptureRow

    at = CaptureRow.captured_at
    mine = (CaptureRow.terminal == terminal, CaptureRow.stream == stream)
    limit = horizon.astimezone(UTC)
    future = select(func.count(), func.min(at), func.max(at)).where(*mine, at > limit)
    before = select(func.max(at)).where(*mine, at <= limit)

    def run() -> Future:
        with catalog.engine.connect() as conn:
            count, first, last = conn.execute(future).one()
            newest = conn.execute(before).scalar()
        utc = [as_utc(v) if v is not None else None for v in (first, last, newest)]
        return int(count or 0), utc[0], utc[1], utc[2]

    result: Future = catalog.retry(run)
    return result


def _staleness(
    settings: Settings, name: str, moment: datetime | None, now: datetime, what: str
) -> Check:
    if moment is None:
        return Check(name, UNKNOWN, f"no {what} yet")
    minutes = max(0.0, (now - moment).total_seconds() / 60)
    status = _grade(minutes, settings.stale_warn_minutes, settings.stale_crit_minutes)
    return Check(name, status, f"{what} {_age(minutes)} ago", round(minutes, 1))


def write_health_file(settings: Settings, report: HealthReport) -> Path | None:
    """The same JSON, atomically, for monitors that read a file; skipped if the dir is gone."""
    from dogcli.storage.local import write_file_atomic

    path = settings.data_dir / HEALTH_FILE
    if not settings.data_dir.is_dir():
        return None
    text = redact_url(json.dumps(report.as_json(), indent=2)) + "\n"
    write_file_atomic(path, text.encode())
    return path


def health_command(settings: Settings, now: datetime | None = None) -> HealthReport:
    """health as the CLI runs it: report, .health file, alert on a change, metrics; the
    catalog opened once for all of it."""
    import logging

    with Archive.open(settings) as archive:
        report = run_health(settings, now, archive=archive)
        try:
            write_health_file(settings, report)
        except DogcliError as exc:
            logging.getLogger(__name__).warning(
                "cannot write %s: %s", settings.data_dir / HEALTH_FILE, exc
            )
        bad = [c for c in report.checks if c.status == CRITICAL]
        body = "\n".join(f"{c.name}: {c.status}: {c.message}" for c in (bad or report.checks))
        archive.alert("health", bool(bad), "health critical", body)
        if settings.metrics_file is not None:
            archive.write_metrics(settings.metrics_file, report.exit_code)
    return report

"""The commands: each parses its options, calls one job or report, has the result rendered
and exits with its status. app.py registers them on the Typer app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from dogcli.cli import render, tables
from dogcli.cli.exits import error
from dogcli.cli.options import (
    ConcurrencyOpt,
    JsonOpt,
    MetricsOpt,
    ReportJsonOpt,
    State,
    StreamOpt,
    WaitOpt,
)
from dogcli.cli.options import state as _state
from dogcli.cli.progress import make_reporter
from dogcli.model.errors import DogcliError, UsageError
from dogcli.model.status import ExitStatus, HealthStatus


def _json(data: Any) -> str:
    return json.dumps(data, indent=2)


def fetch(
    ctx: typer.Context,
    stream: StreamOpt = None,
    max_days: Annotated[
        int | None,
        typer.Option(
            "--max-days", min=1, max=366, help="Read at most this many days (the newest)."
        ),
    ] = None,
    concurrency: ConcurrencyOpt = None,
    wait: WaitOpt = 0.0,
    metrics_file: MetricsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch what is recent: today, every day of the catch-up window that has not settled,
    and the captures the ledger still wants (DOGCLI_CATCHUP_DAYS, DOGCLI_SETTLE_HOURS)."""
    from dogcli.jobs.fetch import fetch_command

    state = _state(ctx)
    settings = state.settings(concurrency=concurrency, metrics_file=metrics_file)
    reporter = make_reporter(state.env, state.quiet, "fetch")
    try:
        summary = fetch_command(settings, stream or (), max_days, reporter, wait)
    finally:
        reporter.close()
    _finish(state, "fetch", summary, as_json)


def backfill(
    ctx: typer.Context,
    days: Annotated[
        str | None,
        typer.Argument(help="YYYY-MM-DD..YYYY-MM-DD (inclusive) or YYYY-MM-DD."),
    ] = None,
    gaps: Annotated[
        bool, typer.Option("--gaps", help="Read again the days `dogcli gaps` lists as incomplete.")
    ] = False,
    stream: StreamOpt = None,
    concurrency: ConcurrencyOpt = None,
    wait: WaitOpt = 0.0,
    metrics_file: MetricsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch every capture of past days (a range, or the incomplete ones with --gaps)."""
    from dogcli.jobs.fetch import backfill_command, parse_range, site_today

    state = _state(ctx)
    settings = state.settings(concurrency=concurrency, metrics_file=metrics_file)
    if (days is None) == (not gaps):
        raise UsageError("give a RANGE of days or --gaps (one of them)")
    first, last = parse_range(days, site_today(settings)) if days is not None else (None, None)
    reporter = make_reporter(state.env, state.quiet, "backfill")
    try:
        summary = backfill_command(settings, first, last, stream or (), reporter, wait, gaps=gaps)
    finally:
        reporter.close()
    _finish(state, "backfill", summary, as_json)


def _finish(state: State, command: str, summary: Any, as_json: bool = False) -> NoReturn:
    if as_json:
        state.console.data(_json(render.summary_json(summary, command)))
    else:
        state.console.summary(f"{command}: {render.summary_line(summary)}")
    for failure in summary.failures[:20]:
        state.console.error_line(f"failed: {failure}")
    if len(summary.failures) > 20:
        state.console.error_line(f"... and {len(summary.failures) - 20} more failures")
    raise typer.Exit(ExitStatus.OK if summary.ok else ExitStatus.FAILURE)


def cleanup(
    ctx: typer.Context,
    retention_days: Annotated[
        int | None,
        typer.Option("--retention-days", help="Keep this many days (DOGCLI_RETENTION_DAYS)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go.")] = False,
    max_disk_percent: Annotated[
        float | None,
        typer.Option("--max-disk-percent", help="Also delete the oldest while the disk is fuller."),
    ] = None,
    wait: WaitOpt = 0.0,
    metrics_file: MetricsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete captures older than the retention: files and catalog rows together."""
    from dogcli.jobs.cleanup import cleanup_command

    state = _state(ctx)
    settings = state.settings(retention_days=retention_days, metrics_file=metrics_file)
    result = cleanup_command(settings, None, dry_run, max_disk_percent, wait)
    if as_json:
        state.console.data(_json(render.cleanup_json(result)))
    else:
        state.console.summary(f"cleanup: {render.cleanup_line(result)}")


def health(
    ctx: typer.Context,
    as_json: ReportJsonOpt = False,
    metrics_file: MetricsOpt = None,
) -> None:
    """Is the archive current and the machine healthy? Monitoring-plugin output and exit
    codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (-q: the status line only)."""
    from dogcli.reports.health import health_command

    state = _state(ctx)
    try:
        settings = state.settings(metrics_file=metrics_file)
    except DogcliError as exc:  # monitors read UNKNOWN as "could not tell"
        error(str(exc), state.env)
        raise typer.Exit(HealthStatus.UNKNOWN) from None
    report = health_command(settings)
    if as_json:
        state.console.data(_json(render.health_json(report)))
    else:
        lines = render.health_plugin_lines(report)
        state.console.data("\n".join(lines[:1] if state.quiet else lines))
    raise typer.Exit(report.exit_code)


def gaps(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="YYYY-MM-DD", help="From this day (default: all)."),
    ] = None,
    stream: StreamOpt = None,
    as_json: ReportJsonOpt = False,
) -> None:
    """Incomplete days, and a picture of coverage per day and hour (camera outages apart
    from what the archive lacks)."""
    from dogcli.model.days import parse_since
    from dogcli.reports.gaps import gaps_reports
    from dogcli.reports.looking import no_archive_note

    state = _state(ctx)
    settings = state.settings()
    reports = gaps_reports(settings, stream or (), parse_since(since))
    if (note := no_archive_note(settings)) is not None:
        state.console.note(note)
    if as_json:
        state.console.data(_json(render.gaps_json(reports)))
    else:
        for report in reports:
            tables.gaps_picture(state.env, report)
    incomplete = any(r.incomplete for r in reports)
    raise typer.Exit(ExitStatus.FAILURE if incomplete else ExitStatus.OK)


def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="How many.")] = 20,
    as_json: ReportJsonOpt = False,
) -> None:
    """Recent fetch, backfill and cleanup runs (the run journal)."""
    from dogcli.reports.looking import no_archive_note, recent_runs

    state = _state(ctx)
    settings = state.settings()
    recent = recent_runs(settings, limit)
    if (note := no_archive_note(settings)) is not None:
        state.console.note(note)
    if as_json:
        state.console.data(_json(render.runs_json(recent)))
    else:
        tables.runs_table(state.env, recent)


def stats(
    ctx: typer.Context,
    stream: StreamOpt = None,
    as_json: ReportJsonOpt = False,
) -> None:
    """What the archive holds, per stream."""
    from dogcli.reports.looking import no_archive_note
    from dogcli.reports.stats import stats_report

    state = _state(ctx)
    settings = state.settings()
    report = stats_report(settings, stream or ())
    if (note := no_archive_note(settings)) is not None:
        state.console.note(note)
    if as_json:
        state.console.data(_json(render.stats_json(report)))
    else:
        tables.stats_table(state.env, report)


def verify(
    ctx: typer.Context,
    repair: Annotated[
        bool, typer.Option("--repair", help="Download, catalog and tidy what is wrong.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="YYYY-MM-DD", help="Only days from this one (site time)."),
    ] = None,
    deep: Annotated[bool, typer.Option("--deep", help="Compare sha256, not only sizes.")] = False,
    as_json: ReportJsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Compare catalog and disk; exit 1 when something is wrong (or could not be repaired)."""
    from dogcli.jobs.verify import verify_archive
    from dogcli.model.days import parse_since
    from dogcli.reports.looking import no_archive_note

    state = _state(ctx)
    settings = state.settings()
    report = verify_archive(settings, repair, parse_since(since), deep, wait)
    if not repair and (note := no_archive_note(settings)) is not None:
        state.console.note(note)
    if as_json:
        state.console.data(_json(render.verify_json(report)))
    else:
        for line in render.verify_lines(report):
            state.console.summary(line)
    raise typer.Exit(ExitStatus.OK if report.ok else ExitStatus.FAILURE)


def export(
    ctx: typer.Context,
    fmt: Annotated[  # None, not "csv": the help says [csv], not [default: csv]
        str | None,
        typer.Option("--format", "-f", metavar="csv|jsonl|parquet", help="Output format [csv]."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="YYYY-MM-DD", help="From this local day (inclusive)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="YYYY-MM-DD", help="To this local day (inclusive)."),
    ] = None,
    stream: Annotated[
        list[str] | None,
        typer.Option("--stream", "-s", help="Only this stream (repeatable); default all."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write this file (atomically); default stdout."),
    ] = None,
) -> None:
    """One row per cataloged capture, oldest first: terminal, stream, captured_at (UTC),
    day (site time), variant, path (in the data dir), bytes, sha256. Parquet needs
    `pip install 'dogcli[parquet]'`."""
    from dogcli.jobs.export import export_captures, parse_request

    state = _state(ctx)
    request = parse_request(fmt or "csv", since, until, stream or ())
    settings = state.settings()
    try:
        result = export_captures(settings, request, output, state.env.stdout_binary)
    except BrokenPipeError:  # `dogcli export | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), state.env.stdout.fileno())
        raise typer.Exit(ExitStatus.OK) from None
    if result.no_archive:
        from dogcli.reports.looking import no_archive_note

        if (note := no_archive_note(settings)) is not None:
            state.console.note(note)
    where = str(output) if output is not None else "stdout"
    state.console.note(
        f"exported {result.rows} captures ({request.format}) to {where} in {result.seconds:.1f}s"
    )


def db_upgrade(ctx: typer.Context) -> None:
    """Create the catalog or bring its schema to the newest revision."""
    from dogcli.jobs.schema import upgrade_catalog

    state = _state(ctx)
    changed, current = upgrade_catalog(state.settings())
    state.console.summary(
        f"catalog upgraded to revision {current}" if changed else f"catalog at revision {current}"
    )


def config_show(
    ctx: typer.Context,
    as_json: ReportJsonOpt = False,
) -> None:
    """Every setting's effective value (passwords masked) and where it came from: default,
    the TOML file, an environment variable or an option."""
    from dogcli.jobs.config import config_report

    state = _state(ctx)
    report = config_report(state.overrides, state.config)
    if as_json:
        state.console.data(_json(report.as_json()))
    else:
        tables.config_table(state.env, report)


def config_init(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help="Where to write it (default: $XDG_CONFIG_HOME/dogcli/config.toml)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter TOML file: every setting at its default, commented out."""
    from dogcli.jobs.config import init_config

    written = init_config(path, force)
    _state(ctx).env.err(f"wrote {written}")

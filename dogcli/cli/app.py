"""The command line: parse options, call a job or report, print. No real work here."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from dogcli import __version__
from dogcli.cli.render import Console, configure_logging, make_reporter
from dogcli.model.errors import DogcliError, Terminated, UsageError
from dogcli.model.status import ExitStatus, HealthStatus


def _unset_options_need_no_coercion() -> None:
    """typer coerces each option through a pydantic TypeAdapter built on first use, also an
    option left unset. Importing pydantic and building them cost 0.1 s of every command (a
    fifth of `dogcli health`). An unset option (None) needs no coercion: typer's coerce()
    returns None for it, or () when it takes several values, which is what happens here
    before typer's own coercion gets any given value. Left alone if typer's internals differ.
    typer is pinned in pyproject.toml for this; tests/test_typer_patch.py checks that the patch
    still applies, keeps pydantic out of `dogcli health` and leaves given values coerced."""
    try:
        from typer.core import _TyperParameter
    except ImportError:  # pragma: no cover - another typer
        return
    found = getattr(_TyperParameter, "get_runtime_param", None)
    if found is None or getattr(found, "_dogcli", False):  # pragma: no cover
        return
    build: Any = found

    class Lazy:
        def __init__(self, param: Any) -> None:
            self.param = param

        def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
            if value is None:
                return () if param.multiple or param.nargs == -1 else None
            return build(self.param).coerce(value, param=param, ctx=ctx)

        def __getattr__(self, name: str) -> Any:
            return getattr(build(self.param), name)

    def get_runtime_param(self: Any) -> Any:
        return Lazy(self)

    get_runtime_param._dogcli = True  # type: ignore[attr-defined]
    setattr(_TyperParameter, "get_runtime_param", get_runtime_param)  # noqa: B010


_unset_options_need_no_coercion()


COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")
_named_shell: list[str] = []  # the shell named after --show/--install-completion, if any


def _completion_shell() -> str | None:
    """typer finds the shell for --show/--install-completion among the process's ancestors
    (shellingham) and takes no name. Here a shell named after the option wins
    (`dogcli --show-completion zsh` from bash), and $SHELL stands in when no ancestor is a
    shell (cron, CI, `docker exec`), where typer printed nothing useful."""
    import os

    if _named_shell:
        return _named_shell[-1]
    try:
        import shellingham

        return str(shellingham.detect_shell()[0]).lower()
    except Exception:  # shellingham.ShellDetectionFailure, or no shellingham
        name = os.path.basename(os.environ.get("SHELL", "")).lower()
        return name or None


def _completion_names_its_shell() -> None:
    """Put _completion_shell in typer's place (typer is pinned: tests/test_completion.py)."""
    import typer.completion

    shared = sys.modules.get("typer._completion_shared")
    for module in (typer.completion, shared):
        if module is not None and hasattr(module, "_get_shell_name"):
            setattr(module, "_get_shell_name", _completion_shell)  # noqa: B010


_completion_names_its_shell()


class DogcliGroup(TyperGroup):
    """Turns DogcliError into one line on stderr and its exit code, for main() and CliRunner."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DogcliError as exc:
            _error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Terminated:
            _stopped("terminated", ExitStatus.TERMINATED)
        except KeyboardInterrupt:
            _stopped("interrupted", ExitStatus.INTERRUPTED)


app = typer.Typer(
    name="dogcli",
    cls=DogcliGroup,
    help="Archive DrayDog gate-camera images to local disk, with a queryable catalog.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Catalog database maintenance.", no_args_is_help=True, cls=DogcliGroup)
app.add_typer(db_app, name="db")
config_app = typer.Typer(
    help="The effective settings, and a starter settings file.", no_args_is_help=True,
    cls=DogcliGroup,
)  # fmt: skip
app.add_typer(config_app, name="config")

log = logging.getLogger("dogcli")

StreamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stream",
        "-s",
        help="Stream to handle, S or TERMINAL:S (repeatable); default: every camera.",
    ),
]


class State:
    def __init__(self) -> None:
        self.config: Path | None = None
        self.overrides: dict[str, Any] = {}
        self.console = Console()

    def settings(self, **more: Any) -> Any:
        from dogcli.jobs.config import load_settings

        return load_settings({**self.overrides, **more}, self.config)


def _version(value: bool) -> None:
    if value:
        print(f"dogcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (else $DOGCLI_CONFIG).")
    ] = None,
    data_dir: Annotated[  # a string: an empty --data-dir "$UNSET" must not mean "."
        str | None, typer.Option("--data-dir", help="Where images and the SQLite catalog live.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="SQLAlchemy URL of the catalog.")
    ] = None,
    site_url: Annotated[
        str | None, typer.Option("--site-url", help="Base of camera pages.")
    ] = None,
    cdn_url: Annotated[str | None, typer.Option("--cdn-url", help="Base of image URLs.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    state = State()
    state.config = config
    state.overrides = {
        "data_dir": data_dir,
        "database_url": database_url,
        "site_url": site_url,
        "cdn_url": cdn_url,
    }
    state.console.quiet = quiet
    configure_logging(verbose=verbose, quiet=quiet)
    ctx.obj = state


def _state(ctx: typer.Context) -> State:
    state = ctx.obj
    assert isinstance(state, State)
    return state


WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait", min=0, max=86400, help="Seconds to wait for another run to finish (else exit 75)."
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="The summary as one JSON object on stdout (messages on stderr)."),
]
MetricsOpt = Annotated[
    Path | None,
    typer.Option("--metrics-file", help="Write Prometheus metrics here (DOGCLI_METRICS_FILE)."),
]


@app.command()
def fetch(
    ctx: typer.Context,
    stream: StreamOpt = None,
    max_days: Annotated[
        int | None,
        typer.Option(
            "--max-days", min=1, max=366, help="Read at most this many days (the newest)."
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Parallel downloads (1..32).")
    ] = None,
    wait: WaitOpt = 0.0,
    metrics_file: MetricsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch what is recent: today, every day of the catch-up window that has not settled,
    and the captures the ledger still wants (DOGCLI_CATCHUP_DAYS, DOGCLI_SETTLE_HOURS)."""
    from dogcli.jobs.fetch import fetch_command

    state = _state(ctx)
    settings = state.settings(concurrency=concurrency, metrics_file=metrics_file)
    reporter = make_reporter(state.console, "fetch")
    try:
        summary = fetch_command(settings, stream or (), max_days, reporter, wait)
    finally:
        reporter.close()
    _finish(state, "fetch", summary, as_json)


@app.command()
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
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Parallel downloads (1..32).")
    ] = None,
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
    reporter = make_reporter(state.console, "backfill")
    try:
        summary = backfill_command(settings, first, last, stream or (), reporter, wait, gaps=gaps)
    finally:
        reporter.close()
    _finish(state, "backfill", summary, as_json)


def _finish(state: State, command: str, summary: Any, as_json: bool = False) -> NoReturn:
    if as_json:
        print(json.dumps(summary.as_json(command), indent=2), flush=True)
    else:
        state.console.summary(f"{command}: {summary.line()}")
    for failure in summary.failures[:20]:
        state.console.error_line(f"failed: {failure}")
    if len(summary.failures) > 20:
        state.console.error_line(f"... and {len(summary.failures) - 20} more failures")
    raise typer.Exit(ExitStatus.OK if summary.ok else ExitStatus.FAILURE)


@app.command()
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
        print(json.dumps(result.as_json(), indent=2), flush=True)
    else:
        state.console.summary(f"cleanup: {result.line()}")


@app.command()
def health(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    metrics_file: MetricsOpt = None,
) -> None:
    """Is the archive current and the machine healthy? Monitoring-plugin output and exit
    codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (-q: the status line only)."""
    from dogcli.reports.health import health_command

    state = _state(ctx)
    try:
        settings = state.settings(metrics_file=metrics_file)
    except DogcliError as exc:  # monitors read UNKNOWN as "could not tell"
        _error(str(exc))
        raise typer.Exit(HealthStatus.UNKNOWN) from None
    report = health_command(settings)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        lines = report.plugin_lines()
        print("\n".join(lines[:1] if state.console.quiet else lines), flush=True)
    raise typer.Exit(report.exit_code)


@app.command()
def gaps(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="YYYY-MM-DD", help="From this day (default: all)."),
    ] = None,
    stream: StreamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
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
        single = reports[0].as_json() if len(reports) == 1 else None
        several = {"terminals": {r.terminal: r.as_json() for r in reports}}
        print(json.dumps(single or several, indent=2))
    else:
        for report in reports:
            state.console.gaps(report)
    incomplete = any(r.incomplete for r in reports)
    raise typer.Exit(ExitStatus.FAILURE if incomplete else ExitStatus.OK)


@app.command()
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="How many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Recent fetch, backfill and cleanup runs (the run journal)."""
    from dogcli.reports.looking import no_archive_note, recent_runs

    state = _state(ctx)
    settings = state.settings()
    recent = recent_runs(settings, limit)
    if (note := no_archive_note(settings)) is not None:
        state.console.note(note)
    if as_json:
        print(json.dumps({"runs": [r.as_json() for r in recent]}, indent=2))
    else:
        state.console.runs_table(recent)


@app.command()
def stats(
    ctx: typer.Context,
    stream: StreamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
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
        print(json.dumps(report, indent=2))
    else:
        state.console.stats_table(report)


@app.command()
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
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
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
        print(json.dumps(report.as_json(), indent=2))
    else:
        for line in report.lines():
            state.console.summary(line)
    raise typer.Exit(ExitStatus.OK if report.ok else ExitStatus.FAILURE)


@app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[  # None, not "csv": a default would be coerced through pydantic
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
        result = export_captures(settings, request, output, sys.stdout.buffer)
    except BrokenPipeError:  # `dogcli export | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(ExitStatus.OK) from None
    if result.no_archive:
        from dogcli.reports.looking import no_archive_note

        if (note := no_archive_note(settings)) is not None:
            state.console.note(note)
    where = str(output) if output is not None else "stdout"
    state.console.note(
        f"exported {result.rows} captures ({request.format}) to {where} in {result.seconds:.1f}s"
    )


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the catalog or bring its schema to the newest revision."""
    from dogcli.jobs.schema import upgrade_catalog

    state = _state(ctx)
    changed, current = upgrade_catalog(state.settings())
    state.console.summary(
        f"catalog upgraded to revision {current}" if changed else f"catalog at revision {current}"
    )


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Every setting's effective value (passwords masked) and where it came from: default,
    the TOML file, an environment variable or an option."""
    from dogcli.jobs.config import config_report

    state = _state(ctx)
    report = config_report(state.overrides, state.config)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        state.console.config_table(report)


@config_app.command("init")
def config_init(
    path: Annotated[
        Path | None,
        typer.Argument(help="Where to write it (default: $XDG_CONFIG_HOME/dogcli/config.toml)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter TOML file: every setting at its default, commented out."""
    from dogcli.jobs.config import init_config

    written = init_config(path, force)
    print(f"wrote {written}", file=sys.stderr)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: every failure becomes one line on stderr and an exit code."""
    _stop_on_sigterm()
    args = _global_flags_first(argv)
    if args[:1] in (["--show-completion"], ["--install-completion"]) and (
        args[1:2] and args[1] in COMPLETION_SHELLS
    ):
        _named_shell.append(args.pop(1))
    try:
        code = app(args=args, prog_name="dogcli", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message(), file=sys.stderr)
            sys.exit(ExitStatus.USAGE)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "dogcli"
        _die(f"{exc.format_message()} (try '{path} --help')", exc.exit_code)
    except typer.Abort as exc:  # click turns Ctrl-C (and our SIGTERM) into Abort
        if isinstance(exc.__cause__, Terminated):
            _stopped("terminated", ExitStatus.TERMINATED)
        _stopped("interrupted", ExitStatus.INTERRUPTED)
    except DogcliError as exc:
        _die(str(exc), exc.exit_code)
    except Terminated:
        _stopped("terminated", ExitStatus.TERMINATED)
    except KeyboardInterrupt:
        _stopped("interrupted", ExitStatus.INTERRUPTED)
    sys.exit(code if isinstance(code, int) else ExitStatus.OK)


def signal_default() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_on_sigterm() -> None:
    """SIGTERM stops a run the way Ctrl-C does: queued downloads cancelled, the journal
    kept, the run journaled; without this Python would die on the spot."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread (an in-process caller's thread)

    def handler(_signum: int, _frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


def _stopped(message: str, code: int) -> NoReturn:
    """Interrupted: a download still in flight past the grace time (a slow answer) must not
    hold the exit, so the process ends at once once the line is out."""
    import threading

    signal_default()  # a second Ctrl-C or SIGTERM from here on ends the process at once
    _error(message)
    if any(t.name.startswith("dl_") and t.is_alive() for t in threading.enumerate()):
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")


def _global_flags_first(argv: list[str] | None) -> list[str]:
    """`dogcli fetch -q` works like `dogcli -q fetch`: cron lines are written both ways."""
    args = list(sys.argv[1:] if argv is None else argv)
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
    return flags + rest + args[end:]


def _error(message: str) -> None:
    from dogcli.model.redact import redact_url

    line = " ".join(redact_url(message).split())
    print(f"dogcli: error: {line}", file=sys.stderr, flush=True)


def _die(message: str, code: int) -> NoReturn:
    _error(message)
    sys.exit(code)

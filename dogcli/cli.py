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
from dogcli.errors import DogcliError
from dogcli.output import Console, configure_logging, make_reporter


class DogcliGroup(TyperGroup):
    """Turns DogcliError into one line on stderr and its exit code, for main() and CliRunner."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DogcliError as exc:
            _error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _error("interrupted")
            raise typer.Exit(130) from None


app = typer.Typer(
    name="dogcli",
    cls=DogcliGroup,
    help="Archive DrayDog gate-camera images to local disk, with a queryable catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Catalog database maintenance.", no_args_is_help=True, cls=DogcliGroup)
app.add_typer(db_app, name="db")

log = logging.getLogger("dogcli")

StreamOpt = Annotated[
    list[str] | None,
    typer.Option("--stream", "-s", help="Stream to handle (repeatable); default DOGCLI_STREAMS."),
]


class State:
    def __init__(self) -> None:
        self.config: Path | None = None
        self.overrides: dict[str, Any] = {}
        self.console = Console()

    def settings(self, **more: Any) -> Any:
        from dogcli.settings import load_settings

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
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where images and the SQLite catalog live.")
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


@app.command()
def fetch(
    ctx: typer.Context,
    stream: StreamOpt = None,
    max_days: Annotated[
        int, typer.Option("--max-days", min=1, max=366, help="Catch up at most this many days.")
    ] = 2,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Parallel downloads (1..32).")
    ] = None,
) -> None:
    """Fetch the newest captures: from the day of the newest cataloged one through today."""
    from dogcli.jobs.fetch import run_fetch

    state = _state(ctx)
    settings = state.settings(concurrency=concurrency)
    summary = run_fetch(settings, stream or (), max_days, make_reporter(state.console, "fetch"))
    _finish(state, "fetch", summary)


@app.command()
def backfill(
    ctx: typer.Context,
    days: Annotated[str, typer.Argument(help="YYYY-MM-DD..YYYY-MM-DD (inclusive) or YYYY-MM-DD.")],
    stream: StreamOpt = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Parallel downloads (1..32).")
    ] = None,
) -> None:
    """Fetch every capture of past days."""
    from dogcli.jobs.fetch import parse_range, run_backfill, site_today

    state = _state(ctx)
    settings = state.settings(concurrency=concurrency)
    first, last = parse_range(days, site_today(settings))
    reporter = make_reporter(state.console, "backfill")
    summary = run_backfill(settings, first, last, stream or (), reporter)
    _finish(state, "backfill", summary)


def _finish(state: State, command: str, summary: Any) -> NoReturn:
    state.console.summary(f"{command}: {summary.line()}")
    for failure in summary.failures[:20]:
        state.console.error_line(f"failed: {failure}")
    if len(summary.failures) > 20:
        state.console.error_line(f"... and {len(summary.failures) - 20} more failures")
    raise typer.Exit(0 if summary.ok else 1)


@app.command()
def stats(
    ctx: typer.Context,
    stream: StreamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """What the archive holds, per stream."""
    from dogcli.catalog.store import Catalog
    from dogcli.jobs.fetch import check_streams
    from dogcli.reports.stats import collect_stats

    state = _state(ctx)
    settings = state.settings()
    streams = check_streams(settings, stream or ())
    with Catalog(settings.effective_database_url, settings.max_retries, settings.retry_base) as cat:
        cat.upgrade()
        report = collect_stats(settings, cat, streams)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        state.console.stats_table(report)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the catalog or bring its schema to the newest revision."""
    from dogcli.catalog.store import Catalog

    state = _state(ctx)
    settings = state.settings()
    with Catalog(settings.effective_database_url, settings.max_retries, settings.retry_base) as cat:
        changed = cat.upgrade()
        current, _head = cat.schema_status()
    state.console.summary(
        f"catalog upgraded to revision {current}" if changed else f"catalog at revision {current}"
    )


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: every failure becomes one line on stderr and an exit code."""
    try:
        code = app(args=argv, prog_name="dogcli", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message(), file=sys.stderr)
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "dogcli"
        _die(f"{exc.format_message()} (try '{path} --help')", exc.exit_code)
    except typer.Abort:
        _die("interrupted", 130)
    except DogcliError as exc:
        _die(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _die("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str) -> None:
    from dogcli.redact import redact_url

    line = " ".join(redact_url(message).split())
    print(f"dogcli: error: {line}", file=sys.stderr, flush=True)


def _die(message: str, code: int) -> NoReturn:
    _error(message)
    sys.exit(code)

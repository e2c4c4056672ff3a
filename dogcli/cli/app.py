"""The dogcli program: the Typer app, its root options, its commands (commands.py) and
main(), the entry point (argv -> app -> exit status). The run's Environment is made here,
once, and reaches every command and renderer through the root options' State."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from dogcli import __version__
from dogcli.cli import commands
from dogcli.cli.completion import SHELLS, ShellArg, completion_shell, script_for
from dogcli.cli.env import Environment
from dogcli.cli.exits import DogcliGroup, die, stop_on_sigterm, stopped
from dogcli.cli.options import State
from dogcli.cli.options import state as _state
from dogcli.cli.progress import configure_logging
from dogcli.model.errors import DogcliError, Terminated, UsageError
from dogcli.model.status import ExitStatus

# typer's --install-completion and --show-completion stay (add_completion=True): typer sets
# up its <Tab> answers only with them. `dogcli completion SHELL` is the documented way.
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
    # main() hands its Environment in as the context's obj; CliRunner gets a fresh one.
    state = State(ctx.obj if isinstance(ctx.obj, Environment) else Environment())
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


app.command()(commands.fetch)
app.command()(commands.backfill)
app.command()(commands.cleanup)
app.command()(commands.health)
app.command()(commands.gaps)
app.command()(commands.runs)
app.command()(commands.stats)
app.command()(commands.verify)
app.command()(commands.export)
db_app.command("upgrade")(commands.db_upgrade)
config_app.command("show")(commands.config_show)
config_app.command("init")(commands.config_init)


@app.command("completion")
def completion(ctx: typer.Context, shell: ShellArg = None) -> None:
    """Print the shell completion script for bash, zsh, fish or PowerShell; the README's
    "Shell completion" says where each shell looks for it."""
    _state(ctx).env.stdout.write(script_for(ctx.find_root().command, shell))


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: every failure becomes one line on stderr and an exit code."""
    before = set(threading.enumerate())
    env = Environment()
    stop_on_sigterm()
    try:
        args = _completion_flags(_global_flags_first(argv))
        code = app(args=args, prog_name="dogcli", standalone_mode=False, obj=env)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":
            env.err(exc.format_message())
            sys.exit(ExitStatus.USAGE)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "dogcli"
        die(f"{exc.format_message()} (try '{path} --help')", exc.exit_code, env)
    except typer.Abort as exc:  # click turns Ctrl-C (and our SIGTERM) into Abort
        if isinstance(exc.__cause__, Terminated):
            stopped("terminated", ExitStatus.TERMINATED, env, before)
        stopped("interrupted", ExitStatus.INTERRUPTED, env, before)
    except DogcliError as exc:
        die(str(exc), exc.exit_code, env)
    except Terminated:
        stopped("terminated", ExitStatus.TERMINATED, env, before)
    except KeyboardInterrupt:
        stopped("interrupted", ExitStatus.INTERRUPTED, env, before)
    sys.exit(code if isinstance(code, int) else ExitStatus.OK)


GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")


def _global_flags_first(argv: list[str] | None) -> list[str]:
    """`dogcli fetch -q` works like `dogcli -q fetch`: cron lines are written both ways."""
    args = list(sys.argv[1:] if argv is None else argv)
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
    return flags + rest + args[end:]


def _completion_flags(args: list[str]) -> list[str]:
    """typer's flags take no shell name: `--show-completion [SHELL]` is `completion [SHELL]`
    (which also falls back on $SHELL), and `--install-completion SHELL` is typer's only for
    the shell running dogcli (typer would install for that one whatever the name)."""
    at = next((i for i, a in enumerate(args) if a not in GLOBAL_FLAGS), len(args))
    named = args[at + 1] if at + 1 < len(args) and args[at + 1] in SHELLS else None
    if args[at : at + 1] == ["--show-completion"]:
        return [*args[:at], "completion", *args[at + 1 :]]
    if args[at : at + 1] == ["--install-completion"] and named is not None:
        if named != completion_shell():
            raise UsageError(
                f"--install-completion installs for the shell running dogcli, not {named}: "
                f"`dogcli completion {named}` prints its script (README: Shell completion)"
            )
        return [*args[: at + 1], *args[at + 2 :]]
    return args

"""How a dogcli process ends: every failure one redacted line on stderr and its exit code,
Ctrl-C and SIGTERM a clean stop (exit 130 and 143), the command group that turns errors
into those for main() and for CliRunner alike."""

from __future__ import annotations

import sys
import threading
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from dogcli.cli.env import Environment
from dogcli.model.errors import DogcliError, Terminated
from dogcli.model.status import ExitStatus


class DogcliGroup(TyperGroup):
    """Turns DogcliError into one line on stderr and its exit code, for main() and CliRunner."""

    def invoke(self, ctx: Any) -> Any:
        before = set(threading.enumerate())
        try:
            return super().invoke(ctx)
        except DogcliError as exc:
            error(str(exc), env_of(ctx))
            raise typer.Exit(exc.exit_code) from None
        except Terminated:
            stopped("terminated", ExitStatus.TERMINATED, env_of(ctx), before)
        except KeyboardInterrupt:
            stopped("interrupted", ExitStatus.INTERRUPTED, env_of(ctx), before)


def env_of(ctx: Any) -> Environment:
    """The run's Environment: on the root context's State (app.py), else a fresh one."""
    found = getattr(ctx.find_root(), "obj", None)
    env = getattr(found, "env", found)
    return env if isinstance(env, Environment) else Environment()


def error(message: str, env: Environment | None = None) -> None:
    from dogcli.model.redact import redact_url

    line = " ".join(redact_url(message).split())
    (env or Environment()).err(f"dogcli: error: {line}")


def die(message: str, code: int, env: Environment | None = None) -> NoReturn:
    error(message, env)
    sys.exit(code)


def stopped(
    message: str,
    code: int,
    env: Environment | None = None,
    before: set[threading.Thread] | None = None,
) -> NoReturn:
    """Interrupted: a download still in flight past the grace time (a slow answer) must not
    hold the exit, so the process ends at once once the line is out. `before`: the threads
    alive when the command began (none of them is the command's)."""
    signal_default()  # a second Ctrl-C or SIGTERM from here on ends the process at once
    error(message, env)
    if _threads_hold_the_exit(before or set()):
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _threads_hold_the_exit(before: set[threading.Thread]) -> bool:
    """Python waits at exit for every thread that is not a daemon: here the command's own
    (a download pool's workers) still running. A caller's threads, or a caller that runs
    dogcli in a thread of its own, never end the process."""
    me = threading.current_thread()
    if me is not threading.main_thread():
        return False
    mine = set(threading.enumerate()) - before - {me}
    return any(t.is_alive() and not t.daemon for t in mine)


def signal_default() -> None:
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop_on_sigterm() -> None:
    """SIGTERM stops a run the way Ctrl-C does: queued downloads cancelled, the journal
    kept, the run journaled; without this Python would die on the spot."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread (an in-process caller's thread)

    def handler(_signum: int, _frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)

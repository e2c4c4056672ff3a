"""The options several commands share, and the State the root options leave for the
commands (the run's Environment, its Console, the settings' overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dogcli.cli.env import Environment
from dogcli.cli.render import Console

StreamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stream",
        "-s",
        help="Stream to handle, S or TERMINAL:S (repeatable); default: every camera.",
    ),
]
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
ReportJsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]
MetricsOpt = Annotated[
    Path | None,
    typer.Option("--metrics-file", help="Write Prometheus metrics here (DOGCLI_METRICS_FILE)."),
]
ConcurrencyOpt = Annotated[
    int | None, typer.Option("--concurrency", help="Parallel downloads (1..32).")
]


class State:
    """What the root options decided, for every command of the run."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.config: Path | None = None
        self.overrides: dict[str, Any] = {}
        self.console = Console(env)

    @property
    def quiet(self) -> bool:
        return self.console.quiet

    def settings(self, **more: Any) -> Any:
        from dogcli.jobs.config import load_settings

        return load_settings({**self.overrides, **more}, self.config)


def state(ctx: typer.Context) -> State:
    found = ctx.find_root().obj
    assert isinstance(found, State)
    return found

"""`dogcli completion SHELL`: the shell's completion script on stdout, as rclone and gh do.

The script comes from the completion protocol itself: the program is asked with
`_DOGCLI_COMPLETE=source_SHELL`, the way the installed script asks it with `complete_SHELL`
at every <Tab>. So the script and the answers to it come from the same typer, whichever is
installed, through no private name of typer's (typer >= 0.26 vendors click privately: the
click package's own shell_completion classes do not see typer's commands)."""

from __future__ import annotations

import contextlib
import io
import os
from typing import Annotated, Any

import typer

from dogcli.model.errors import UsageError

PROG = "dogcli"
COMPLETE_VAR = "_DOGCLI_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def completion_shell() -> str | None:
    """The shell running dogcli, found among its ancestors (shellingham, which typer brings);
    where no ancestor is a shell (cron, CI, `docker exec`) $SHELL decides."""
    try:
        import shellingham

        return str(shellingham.detect_shell()[0]).lower()
    except Exception:  # shellingham.ShellDetectionFailure, or no shellingham
        name = os.path.basename(os.environ.get("SHELL", "")).lower()
        return name or None


def completion_script(root: Any, shell: str) -> str:
    """The script for `shell`, from `root` (the click command typer built for the app)."""
    out = io.StringIO()
    before = os.environ.get(COMPLETE_VAR)
    os.environ[COMPLETE_VAR] = f"source_{shell}"
    code: Any = 0
    try:
        with contextlib.redirect_stdout(out):
            root.main(args=[], prog_name=PROG, complete_var=COMPLETE_VAR)
    except SystemExit as exc:  # the protocol answers, then exits
        code = exc.code
    finally:
        if before is None:
            del os.environ[COMPLETE_VAR]
        else:
            os.environ[COMPLETE_VAR] = before
    script = out.getvalue().strip()  # as typer's --show-completion prints it
    if code not in (0, None) or not script:
        raise UsageError(f"no completion script for the shell {shell!r}")
    return script + "\n"


ShellArg = Annotated[
    str | None,
    typer.Argument(
        metavar="SHELL",
        autocompletion=lambda: list(SHELLS),
        help=f"{', '.join(SHELLS)}; default: the shell running dogcli (else $SHELL).",
        show_default=False,
    ),
]


def script_for(root: Any, shell: str | None) -> str:
    """What `dogcli completion [SHELL]` prints: the named shell's script, else the running
    shell's."""
    name = shell if shell is not None else completion_shell()
    if name is None:
        raise UsageError("cannot tell the shell: name it (" + ", ".join(SHELLS) + ")")
    if name not in SHELLS:
        raise UsageError(f"unknown shell {name!r} (known: {', '.join(SHELLS)})")
    return completion_script(root, name)

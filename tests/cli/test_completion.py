"""Shell completion (`dogcli completion SHELL`, and typer's --show-completion, which takes a
shell name too), and a start-up that stays light: --help and completion import none of the
heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Not pydantic: typer (>= 0.29) coerces every option through it, also an unset one, and
# issue 14 took those 0.07 s over a patch of typer's private internals.
HEAVY = ("sqlalchemy", "alembic", "psycopg", "selenium", "requests", "tenacity", "pyarrow",
         "rich")  # fmt: skip

PROBE = """
import json, sys
from dogcli.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = [m for m in HEAVY if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
""".replace("HEAVY", repr(HEAVY))


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "SHELL": "/bin/bash", "DOGCLI_DATA_DIR": str(tmp_path / "d")}
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**environ, **env},
    )  # fmt: skip


def probe(ran: subprocess.CompletedProcess[str]) -> dict[str, object]:
    result: dict[str, object] = json.loads(ran.stderr.strip().splitlines()[-1])
    return result


def test_show_completion_prints_a_bash_script(tmp_path: Path) -> None:
    ran = run(tmp_path, "--show-completion", "bash")
    assert probe(ran) == {"code": 0, "heavy": []}, ran.stderr
    assert "_dogcli_completion()" in ran.stdout
    assert "_DOGCLI_COMPLETE=complete_bash" in ran.stdout
    assert ran.stdout.rstrip().endswith("complete -o default -F _dogcli_completion dogcli")


def test_show_completion_detects_the_shell(tmp_path: Path) -> None:
    ran = run(tmp_path, "--show-completion")  # from $SHELL
    assert probe(ran)["code"] == 0, ran.stderr
    assert "complete -o default -F _dogcli_completion dogcli" in ran.stdout
    zsh = run(tmp_path, "--show-completion", "zsh")  # a named shell wins
    assert probe(zsh) == {"code": 0, "heavy": []}, zsh.stderr
    assert "#compdef dogcli" in zsh.stdout


def test_without_a_shell_among_the_ancestors_shell_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A process tree without a shell (cron, CI, `docker exec`) cannot be made here: the test
    # runner descends from one. So shellingham's own failure stands in for it.
    import shellingham

    from dogcli.cli.completion import completion_shell

    def no_shell() -> tuple[str, str]:
        raise shellingham.ShellDetectionFailure()

    monkeypatch.setattr(shellingham, "detect_shell", no_shell)
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    assert completion_shell() == "fish"
    monkeypatch.delenv("SHELL")
    assert completion_shell() is None


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("dogcli ex", "1", {"export"}),
        ("dogcli config ", "2", {"show", "init"}),
        ("dogcli export --f", "2", {"--format"}),
    ],
)
def test_the_script_completes_commands_and_options(
    tmp_path: Path, words: str, cword: str, expected: set[str]
) -> None:
    # What the installed bash function does on <Tab>.
    ran = run(tmp_path, _DOGCLI_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=cword)
    assert probe(ran) == {"code": 0, "heavy": []}, ran.stderr
    assert set(ran.stdout.split()) == expected


@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["config", "--help"]])
def test_help_imports_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    ran = run(tmp_path, *args)
    assert probe(ran) == {"code": 0, "heavy": []}, ran.stderr
    assert "Usage: dogcli" in ran.stdout


def test_help_lists_the_completion_options(tmp_path: Path) -> None:
    ran = run(tmp_path, "--help")
    assert "--install-completion" in ran.stdout and "--show-completion" in ran.stdout


SCRIPTS = {
    "bash": "complete -o default -F _dogcli_completion dogcli",
    "zsh": "#compdef dogcli",
    "fish": "complete --command dogcli",
    "powershell": "Register-ArgumentCompleter -Native -CommandName dogcli",
    "pwsh": "Register-ArgumentCompleter -Native -CommandName dogcli",
}


@pytest.mark.parametrize("shell", sorted(SCRIPTS))
def test_the_completion_command_prints_each_shells_script(tmp_path: Path, shell: str) -> None:
    ran = run(tmp_path, "completion", shell)
    assert probe(ran) == {"code": 0, "heavy": []}, ran.stderr
    assert SCRIPTS[shell] in ran.stdout
    # The same script as typer's own --show-completion prints for that shell.
    assert ran.stdout == run(tmp_path, "--show-completion", shell).stdout


def test_an_unknown_shell_is_a_usage_error(tmp_path: Path) -> None:
    ran = run(tmp_path, "completion", "tcsh")
    assert probe(ran)["code"] == 2
    assert "unknown shell 'tcsh'" in ran.stderr and ran.stdout == ""


def test_the_shell_names_complete(tmp_path: Path) -> None:
    words = "dogcli completion "
    ran = run(tmp_path, _DOGCLI_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD="2")
    assert set(ran.stdout.split()) == set(SCRIPTS)


def test_help_lists_the_completion_command(tmp_path: Path) -> None:
    ran = run(tmp_path, "--help")
    assert "completion  Print the shell completion script" in ran.stdout

"""The shape of the code: data flows one way, CLI -> jobs/reports -> archive -> sources, storage,
catalog, ops -> config -> model,
never back up, and no two modules import each other, even indirectly. Every import counts,
also the ones inside functions (they are how start-up stays fast, not a way around this)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dogcli"

# Highest first. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("dogcli.__main__",),
    ("dogcli.cli",),
    ("dogcli.jobs", "dogcli.reports"),
    ("dogcli.archive",),
    ("dogcli.sources", "dogcli.storage", "dogcli.catalog", "dogcli.ops"),
    ("dogcli.config", "dogcli.config_values"),
    ("dogcli.model", "dogcli"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "_migrations" not in p.parts}


def imports(path: Path, known: set[str]) -> set[str]:
    """The dogcli modules a file imports (a package's name when it imports the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "dogcli")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "dogcli":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def layer(module: str) -> int:
    best = -1, -1  # (length of the matching prefix, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), index))
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def test_no_arrow_runs_back_up() -> None:
    wrong = [
        f"{module} ({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
        for module, targets in graph().items()
        for target in sorted(targets)
        if layer(target) < layer(module)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_cli_reaches_the_archive_only_through_jobs_and_reports() -> None:
    allowed = ("dogcli.jobs", "dogcli.reports", "dogcli.cli", "dogcli.config", *LAYERS[-1])
    direct = sorted(
        t
        for module, targets in graph().items()
        if module.startswith("dogcli.cli")
        for t in targets
        if not any(t == a or t.startswith(a + ".") for a in allowed if a != "dogcli")
        and t != "dogcli"
    )
    assert not direct, direct


def test_no_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 on the path, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges or nxt == "dogcli":
                continue
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", ["dogcli.jobs.collect", "dogcli.reports.health"])
def test_known_modules_sit_where_they_should(module: str) -> None:
    assert layer(module) == 2

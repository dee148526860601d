"""Apps depend downwards only: no import cycle between the project's apps (tests and migrations aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["common", "customers", "accounts", "catalog", "fulfillment", "subsidies", "assignments", "policies"]
APPS += ["forced_redemptions", "demo"]


def _imports_of(app: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / app).rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found |= {name.split(".")[0] for name in names} & set(APPS)
    return found - {app}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting, done = [], set()

    def visit(app: str) -> list[str] | None:
        if app in visiting:
            return [*visiting[visiting.index(app) :], app]
        if app in done:
            return None
        visiting.append(app)
        for target in sorted(graph[app]):
            if found := visit(target):
                return found
        visiting.pop()
        done.add(app)
        return None

    for app in APPS:
        if found := visit(app):
            return found
    return None


def test_no_import_cycle_between_apps():
    graph = {app: _imports_of(app) for app in APPS}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    assert graph["common"] == set()  # the bottom layer imports no app

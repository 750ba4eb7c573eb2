"""The house (README, Development): one direction of imports and all SQL in repositories, checked on the code.

The layers themselves are declared in pyproject.toml (import-linter); this module runs that check and adds two
of its own: no import cycle between modules of ``app/``, and no SQL outside the modules that own it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"

# Where SQL may be written: the repositories, the ORM tables, the engine and session plumbing, and the source
# adapters (their SQL runs against the brand's own databases, not the service's).
SQL_HOMES = ("repository.py",)
SQL_MODULES = {
    "app/core/db.py",
    "app/worker/listen.py",
    *(str(p.relative_to(ROOT)) for p in (APP / "models").glob("*.py")),
    *(str(p.relative_to(ROOT)) for p in (APP / "sources").glob("sql*.py")),
}
SQL_CONSTRUCTS = {
    "select",
    "insert",
    "update",
    "delete",
    "text",
    "func",
    "and_",
    "or_",
    "not_",
    "tuple_",
    "exists",
    "case",
    "literal",
    "bindparam",
    "literal_column",
}
SESSION_METHODS = {
    "execute",
    "scalar",
    "scalars",
    "stream",
    "stream_scalars",
    "get",
    "add",
    "add_all",
    "delete",
    "merge",
    "refresh",
}
SESSION_NAMES = {"session", "reader", "connection", "conn", "db"}


def _modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_sql_home(path: Path) -> bool:
    return path.name in SQL_HOMES or str(path.relative_to(ROOT)) in SQL_MODULES


def sql_outside_repositories() -> list[str]:
    found = []
    for path in _modules():
        if _is_sql_home(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                constructs = sorted(a.name for a in node.names if a.name in SQL_CONSTRUCTS)
                if constructs:
                    found.append(f"{where} imports {', '.join(constructs)} from {node.module}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in SESSION_NAMES
            ):
                found.append(f"{where} calls {node.func.value.id}.{node.func.attr}()")
    return found


def module_import_cycles() -> list[list[str]]:
    """Strongly connected groups of more than one ``app`` module (imports under TYPE_CHECKING excluded)."""
    names = {_name(p): p for p in _modules()}
    edges: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in _runtime_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("app"):
                module = node.module or ""
                targets = [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in names else module for a in node.names
                ]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("app.")]
            edges[name].update(t for t in targets if t in names and t != name)
    return _strongly_connected(edges)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for inner in node.body for child in ast.walk(inner))
    return [n for n in ast.walk(tree) if id(n) not in skipped and isinstance(n, ast.Import | ast.ImportFrom)]


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_sql_outside_repositories() -> None:
    assert sql_outside_repositories() == []


def test_no_import_cycle_between_modules() -> None:
    assert module_import_cycles() == []


def test_the_layers_declared_in_pyproject_hold() -> None:
    """import-linter: composition, worker, domains in their declared order, core at the bottom."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

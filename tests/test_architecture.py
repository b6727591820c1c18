"""The package's shape: no import cycles (function-level imports included), and only ``hepadv.cli`` renders.

A cycle hidden in a function-level import still couples two modules both ways; ``hepadv.cli`` is the one place
that prints and draws progress bars, so library code used from notebooks and dask workers never imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hepadv"
#: The console-script entry (``python -m hepadv``) is the CLI's own front door.
CLI_ENTRY = {"hepadv.__main__"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every hepadv module ``name`` imports anywhere in its body (TYPE_CHECKING blocks excluded)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if "TYPE_CHECKING" in ast.unparse(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            for alias in node.names:
                if (hit := resolve(alias.name)) is not None:
                    found.add(hit)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                for target in (f"{base}.{alias.name}", base):
                    if (hit := resolve(target)) is not None:
                        found.add(hit)
                        break

    Visitor().visit(ast.parse(path.read_text()))
    # importing a submodule runs its packages first: that is Python's order, not a dependency
    return {m for m in found if m != name and not name.startswith(m + ".")}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_only_the_cli_imports_the_cli() -> None:
    graph = _graph()
    offenders = sorted(f"{m} imports {', '.join(sorted(i for i in deps if i.startswith('hepadv.cli')))}"
                       for m, deps in graph.items()
                       if not m.startswith("hepadv.cli") and m not in CLI_ENTRY
                       and any(d == "hepadv.cli" or d.startswith("hepadv.cli.") for d in deps))
    assert not offenders, offenders


def test_the_walker_sees_function_level_imports() -> None:
    """Guard the guard: a known function-level import is in the graph."""
    graph = _graph()
    assert "hepadv.training.loop" in graph["hepadv.runs.ensure"]  # imported inside ensure_trained

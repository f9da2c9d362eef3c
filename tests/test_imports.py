"""The package's import graph: downward only, no cycle, counting the imports inside functions too."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_graph() -> dict[str, set[str]]:
    """Each module of pipeline/ and the modules of pipeline/ it imports, anywhere in its body."""

    def name(path: Path) -> str:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name(p): p for p in (ROOT / "pipeline").rglob("*.py")}
    graph = {}
    for module, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from pipeline import models` imports the module pipeline.models; `from pipeline.x import f`, x
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                          for a in node.names}  # fmt: skip
        graph[module] = {m for m in found if m in modules and m != module}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported, [*path, imported])):
                return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return None


def test_pipeline_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 30 and "pipeline.jobs" in graph["pipeline.train.runs"]  # the graph is really read
    assert cycle(graph) is None, " → ".join(cycle(graph))


def test_the_cycle_finder_finds_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_floor_imports_nothing_above_it() -> None:
    """paths, files, errors, i18n and jobs are what everything stands on: they import only each other."""
    floor = {"pipeline", "pipeline.paths", "pipeline.files", "pipeline.errors", "pipeline.i18n", "pipeline.catalogue",
             "pipeline.jobs"}  # fmt: skip
    graph = import_graph()
    assert {module: graph[module] - floor for module in floor if graph[module] - floor} == {}

"""The package's dependencies run one way: every import, at module level or inside a function, goes
from a higher layer to a lower one, and no modules import each other in a cycle."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "maskrcnn_ext"

# Lowest first. A package may import its own modules and packages of lower layers only.
LAYERS = [
    {"utils", "registry"},
    {"config"},
    {"checkpoint", "layers", "data"},
    {"modeling", "evaluation"},
    {"engine", "analysis", "export"},
    {"model_zoo"},
    {"experiments"},
    {"cli", "d2"},
    {"__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package's own modules ``path`` imports anywhere in its body."""
    name = module_name(path)
    base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, known) for p in paths}


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_top_level_package_has_a_layer():
    packages = {top_package(m) for m in import_graph()} - {""}
    assert packages <= set(RANK), f"place {sorted(packages - set(RANK))} in LAYERS"


def test_imports_only_go_down_the_layers():
    upward = sorted(f"{src} imports {dst}" for src, targets in import_graph().items() for dst in targets
                    if top_package(src) and top_package(dst) and top_package(src) != top_package(dst)
                    and RANK[top_package(src)] <= RANK[top_package(dst)])
    assert not upward, "\n".join(upward)


def test_layers_import_nothing_from_modeling():
    graph = import_graph()
    offending = [m for m, targets in graph.items() if top_package(m) == "layers"
                 and any(top_package(t) == "modeling" for t in targets)]
    assert not offending


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among non-package modules (``__init__`` re-exports left out), or None."""
    graph = {m: {t for t in targets if t in graph} for m, targets in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles_even_inside_functions():
    packages = {m for m in import_graph() if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").is_file()}
    graph = {m: t - packages for m, t in import_graph().items() if m not in packages}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None

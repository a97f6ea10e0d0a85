"""The package layout of docs/architecture.md holds: arrows one way, no import cycles.

Walks every module of the project's packages with `ast` (nothing is imported), builds the graph
of project-internal imports, module-level and function-level alike (a function-level import may
not hide a cycle). The cycle check is run twice: on what runs, and with `if TYPE_CHECKING:` blocks
included (a type-only import back into a caller is the same coupling, only hidden: the read-side
views take narrow protocols from reelcore.query.readdeps instead of SearchService).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("reelcore", "mcp_server", "daemon", "reelfind", "viewer")
# Which top-level package may import which (besides itself): reelfind -> daemon -> mcp_server -> reelcore.
ALLOWED = {
    "reelcore": set(),
    "viewer": set(),  # static front-end assets and their loader
    "mcp_server": {"reelcore", "viewer"},
    "daemon": {"reelcore", "mcp_server", "viewer"},
    "reelfind": {"reelcore", "mcp_server", "daemon"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(path: Path, module: str, types: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not types:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            out.add(prefix)
            out.update(f"{prefix}.{a.name}" for a in node.names)  # `from pkg import module`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _graph(types: bool = False) -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
             if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        graph[mod] = {i for i in _imports(path, mod, types) if i in files and i != mod}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_the_graph_sees_real_imports() -> None:
    g = _graph()
    assert "reelcore.storage.catalog" in g["reelcore.runtime"]
    assert "mcp_server.server" in g["daemon.service"]  # package-level `from mcp_server.server import ...`


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_no_import_cycles_through_type_only_imports() -> None:
    assert _cycles(_graph(types=True)) == []


def test_arrows_point_one_way() -> None:
    bad = []
    for mod, deps in _graph().items():
        top = mod.split(".")[0]
        for d in deps:
            other = d.split(".")[0]
            if other != top and other not in ALLOWED[top]:
                bad.append(f"{mod} imports {d}")
    assert bad == [], "reelcore imports no face; mcp_server does not import daemon:\n" + "\n".join(sorted(bad))

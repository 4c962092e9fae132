"""The house rules that code review would otherwise have to remember: imports point one way
(flows -> tasks -> systems -> tradeoff), no module imports another that imports it back, the
science imports neither Prefect nor Ray, and the wings' package faces hold no code."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
LAYERS = ("tradeoff", "systems", "tasks", "flows")  # each may import only the ones before it


def modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, top_level_only: bool) -> set[str]:
    """Modules ``path`` imports (``from a.b import c`` counts as a.b and a.b.c); with ``top_level_only``,
    only the imports that run when the module is imported (not those inside functions)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_imports_point_one_way():
    wrong = []
    for name, path in modules().items():
        allowed = LAYERS[:LAYERS.index(name.split(".")[0]) + 1]
        for imported in imports(path, top_level_only=False):
            if imported.split(".")[0] in LAYERS and imported.split(".")[0] not in allowed:
                wrong.append(f"{name} imports {imported}")
    assert not wrong


def test_the_science_imports_neither_prefect_nor_ray():
    offenders = [f"{name} imports {imported}" for name, path in modules().items() if name.startswith("tradeoff")
                 for imported in imports(path, top_level_only=False) if imported.split(".")[0] in ("prefect", "ray")]
    assert not offenders


def test_no_import_cycle():
    graph = {name: {i for i in imports(path, top_level_only=True) if i in modules()} for name, path in modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join((trail[trail.index(nxt):] if nxt in trail else trail) + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("face", ["tradeoff", "tradeoff.samplers", "tradeoff.models", "tradeoff.models.learners",
                                  "tradeoff.transfer", "tradeoff.transfer.methods", "tradeoff.causal", "tradeoff.plots"])
def test_package_faces_hold_only_a_docstring(face):
    tree = ast.parse(modules()[face].read_text())
    assert ast.get_docstring(tree) and len(tree.body) == 1, f"{face}/__init__.py holds code"

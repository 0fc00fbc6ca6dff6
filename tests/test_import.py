"""``import skbait`` stays light: optional back-ends load only when used."""

import json
import subprocess
import sys

import skbait

HEAVY = ["torch", "skorch", "cupy", "modAL", "numba", "matplotlib"]


def test_import_loads_no_optional_dependency():
    code = (
        "import json, sys; import skbait; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_public_names():
    assert "bait_select" in skbait.__all__
    assert isinstance(skbait.__version__, str)


def _internal_imports():
    """module -> the skbait modules it imports (at any depth, lazy imports
    included), from the source."""
    import ast
    import pathlib

    root = pathlib.Path(skbait.__file__).parent
    graph = {}
    for path in root.glob("*.py"):
        name = path.stem
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(alias.name for alias in node.names)
        graph[name] = deps - {name}
    return graph


def test_no_import_cycle():
    graph = _internal_imports()
    assert "_greedy" in graph and "_greedy_setup" in graph["_greedy"]
    state = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", (
            "import cycle: " + " -> ".join(path + [node]))
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            visit(dep, path + [node])
        state[node] = "done"

    for module in sorted(graph):
        visit(module, [])

"""``import skbait`` stays light: optional back-ends load only when used."""

import json
import subprocess
import sys

import skbait

HEAVY = ["torch", "skorch", "cupy", "modAL", "numba", "matplotlib",
         "skactiveml", "dask", "distributed"]


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
    included), from the source. Modules are dotted names below skbait
    (``_engine.greedy``); a package stands for its ``__init__``."""
    import ast
    import pathlib

    root = pathlib.Path(skbait.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts) or "skbait"
        modules[name] = (path, is_package)

    def resolve(name, is_package, level, module):
        package = name.split(".") if is_package else name.split(".")[:-1]
        if name == "skbait":
            package = []
        base = package[:len(package) - (level - 1)]
        return ".".join(base + ([module] if module else [])) or "skbait"

    graph = {}
    for name, (path, is_package) in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            target = resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{target}.{alias.name}".removeprefix("skbait.")
                deps.add(sub if sub in modules else target)
        graph[name] = deps - {name}
    return graph


def test_no_import_cycle():
    graph = _internal_imports()
    assert "_engine.rules.exact.setup" in graph["_engine.rules.exact.spec"]
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


# The query layer's only imports of integrations: lazy loads, by name, of
# a Dask pool and of the registry's lazily registered families.
_QUERY_LOADS = {"_query.inputs": {"_integrations.dask"},
                "_query.extractors": {"_integrations.skorch",
                                      "_integrations.skactiveml_features"}}


def test_rooms_import_downwards_only():
    """The engine imports nothing of the query layer or the integrations;
    the query layer nothing of the integrations but its declared lazy
    loads (``_QUERY_LOADS``)."""
    graph = _internal_imports()
    rank = {"_engine": 0, "_query": 1, "_integrations": 2}
    for module, deps in graph.items():
        room = module.split(".")[0]
        for dep in deps:
            dep_room = dep.split(".")[0]
            if room in rank and dep_room in rank:
                assert (rank[dep_room] <= rank[room]
                        or dep in _QUERY_LOADS.get(module, ())), (module, dep)
        if room == "_engine":
            assert all(d.split(".")[0] in ("_engine", "_validation")
                       for d in deps), (module, deps)


def test_the_query_layer_reads_one_way():
    """Inside the query layer each module imports only the ones listed
    before it (the contract, ``base``, sits under the classes and the
    functions that use it); only ``inputs`` (a Dask pool) and
    ``extractors`` (the lazily registered families) load integrations."""
    order = ["_query.registry", "_query.docstrings", "_query.inputs",
             "_query.extractors", "_query.features", "_query.base",
             "_query.samplers", "_query.functions"]
    graph = _internal_imports()
    assert sorted(m for m in graph if m.startswith("_query.")) == \
        sorted(order)
    for i, module in enumerate(order):
        query_deps = {d for d in graph[module] if d.startswith("_query")}
        assert query_deps <= set(order[:i]), (module, query_deps)
        loads = {d for d in graph[module] if d.startswith("_integrations")}
        assert loads <= _QUERY_LOADS.get(module, set()), (module, loads)

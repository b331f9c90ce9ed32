"""Imports in ``plugins/airflow_ops`` only point down: no cycle, and no module imports a higher layer.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import``, at module
level, inside functions and under ``TYPE_CHECKING`` alike, so an import hidden in a function cannot
close a circle that a module-level one would. ``from package import name`` counts as an import of
the submodule ``package.name`` when there is one.

:data:`LAYERS` is the one declaration of the layer order, bottom first. A module may import its own
layer (without a cycle) and the layers below it. A new top-level module or package must be placed in
a layer here before the suite passes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2] / "plugins"
PACKAGE = "airflow_ops"

#: Bottom first. Each name is a top-level module or subpackage of ``airflow_ops``.
LAYERS: tuple[tuple[str, ...], ...] = (
    # The one seam for Airflow release differences: everything may import it, it imports nothing of ours.
    ("compat",),
    # Data and pure helpers: errors, redaction, names, the config base schema, the report schema.
    ("exceptions", "redact", "s3names", "retention", "params", "schema", "metric", "report"),
    # Adapters to the outside: S3, connections, the REST API, alert channels, the metrics facade.
    ("storage", "connections", "api_client", "notifiers", "metrics"),
    # Domain packages: what each kind does, with their own types; they never import a kind.
    ("backup", "dbclean", "export", "logcleanup", "health", "assets"),
    # The runtime every kind shares: config loading, the kind row, steps and the DAG factory.
    ("config", "kind", "steps", "factory"),
    # One folder per kind: schema, task glue, DAG shape, and its row (``kinds/<kind>/kind.py``).
    ("kinds",),
    # The table of every kind and the lookup by kind name.
    ("registry",),
    # Entry points: the Maintenance page and the plugin entry module.
    ("console", "plugin"),
)
#: The bottom layer is one module, ``compat``, which imports nothing of the package.
SEAM = "compat"


def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of ``name``: itself, or the longest prefix that is a module of the package."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                owner = _owner(target)
                if owner is not None and owner != module:
                    yield owner


GRAPH: dict[str, set[str]] = {m: set(_imports(m, p)) for m, p in MODULES.items()}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    if not top:  # the package's own __init__: no imports, below everything
        return -1
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module}: its top-level name {top!r} is in no layer of LAYERS; add it there")


def _cycle() -> list[str] | None:
    """One import cycle, as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_imports_inside_functions() -> None:
    # steps imports notifiers only inside a method: the graph must still hold that edge.
    assert "airflow_ops.notifiers" in GRAPH["airflow_ops.steps"]
    assert "airflow_ops.kinds.log_cleanup.dag" in GRAPH["airflow_ops.kinds.log_cleanup.kind"]


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_imports_only_point_down() -> None:
    upward = [
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a in sorted(GRAPH)
        for b in sorted(GRAPH[a])
        if _layer(b) > _layer(a)
    ]
    assert upward == []


def test_compat_is_one_module_at_the_bottom_that_imports_nothing_of_ours() -> None:
    assert LAYERS[0] == (SEAM,)
    assert (ROOT / PACKAGE / f"{SEAM}.py").is_file() and not (ROOT / PACKAGE / SEAM).exists()
    assert GRAPH[f"{PACKAGE}.{SEAM}"] == set()


def test_domain_packages_never_import_a_kind() -> None:
    domain = LAYERS[3]
    offending = [
        f"{a} imports {b}"
        for a in sorted(GRAPH)
        if a.split(".")[1:2] and a.split(".")[1] in domain
        for b in sorted(GRAPH[a])
        if b.startswith(f"{PACKAGE}.kinds") or b == f"{PACKAGE}.registry"
    ]
    assert offending == []


def test_a_kind_never_imports_another_kind() -> None:
    offending = [
        f"{a} imports {b}"
        for a in sorted(GRAPH)
        if a.startswith(f"{PACKAGE}.kinds.")
        for b in sorted(GRAPH[a])
        if b.startswith(f"{PACKAGE}.kinds.") and b.split(".")[2] != a.split(".")[2]
    ]
    assert offending == []

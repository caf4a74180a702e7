"""The import graph of ``tiktok_helpers``, read from the source with :mod:`ast`: no import cycle, no
import from a higher layer, a reason for every import made inside a function, no module over 500
lines.

Every ``import`` and ``from ... import`` counts, wherever it is: at the top, inside a function,
under ``if TYPE_CHECKING:``. ``from . import x`` imports the submodule ``x`` when ``x`` is a module,
else the package; importing ``a.b.c`` counts as importing ``a.b.c`` only (not the ``__init__`` of
``a`` and ``a.b`` that Python runs on the way). Each check runs per area (the sandbox, the command
line, the rest of the package), so a failure says whose it is.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from .conftest import PROJECT_ROOT

PACKAGE_NAME: Final = "tiktok_helpers"
PACKAGE: Final = PROJECT_ROOT / PACKAGE_NAME
#: How the package's own ``__init__`` is named here (every other module by its dotted name inside
#: the package: ``session``, ``cli.main``, ``sandbox.handler``).
ROOT: Final = "__init__"
MAX_LINES: Final = 500

# The layers, lowest first: a module may import from its own layer or below, never above.
# This map mirrors the layer list in ARCHITECTURE.md: change both together. It may name a module
# that does not exist (yet); a module that exists and is not named here fails the test.
LAYERS: Final[dict[str, tuple[str, ...]]] = {
    "basics": (
        "secret",
        "errors",
        "catalog",
        "table",
        "validation",
        "regions",
        "protocol",
        "samples",
        "signing",
        "text",
        "store_url",
        "rows",
    ),
    "wire and files": (
        "http",
        "http_client",
        "envfile",
        "authlink",
        "redirect",
        "catcher",
        "catcher_http",
        "catcher_sockets",
        "retry",
        "tokens",
        "openapi",
        "api2cart",
        "settings",
        "webhooks",
        "webhook_receiver",
        "wire",
    ),
    "state": (
        "grants",
        "grant_rows",
        "grant_schema",
        "grant_merge",
        "grant_notices",
        "grant_sql",
        "grant_sqlite",
        "grant_pg",
        "grant_migrations",
        "grant_rounds",
        "grant_transfer",
        "store",
        "legacy",
        "results",
        "status",
        "autopilot",
        "attempt",
        "bulk",
        "seller_lock",
        "keeping",
    ),
    "flow": ("session",),
    "services": ("doctor", "display", "charts", "keepalive"),
    "front ends": (
        "cli",
        "widgets",
        "widget_kit",
        "drills",
        "drill_leftovers",
        "drill_widgets",
        "wire_widgets",
        "__main__",
    ),
}
LAYER_NAMES: Final = list(LAYERS)
LAYER_OF: Final = {module: number for number, modules in enumerate(LAYERS.values()) for module in modules}
#: Subpackages that sit in one layer as a whole (``cli.main`` is in the layer of ``cli``).
WHOLE_SUBPACKAGES: Final = frozenset({"cli"})
FRONT_END_LAYER: Final = LAYER_NAMES.index("front ends")

#: The sandbox is a separate service: what it may import from the rest of the package ...
SANDBOX: Final = "sandbox"
SANDBOX_MAY_IMPORT: Final = frozenset({"signing", "regions", "authlink", "samples", "protocol", "secret", "errors"})
#: ... and who in the library layers may import it (it is started by the session; the doctor
#: checks it). The front ends may too.
MAY_IMPORT_SANDBOX: Final = frozenset({"session", "doctor"})

AREAS: Final = ("sandbox", "cli", "library")

_DEFERRED: Final = re.compile(r"#\s*deferred:\s*\S")


# ---------------------------------------------------------------------------- the graph
@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``importer`` imports ``imported`` (both modules of the package)
    or, for ``imported=None``, something outside it."""

    importer: str
    imported: str | None
    path: Path
    line: int
    in_function: bool
    says_why: bool

    def where(self) -> str:
        try:
            shown = self.path.relative_to(PROJECT_ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"


def modules_in(root: Path) -> dict[str, Path]:
    """Every module of the package in ``root``, by its name inside the package."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or ROOT] = path
    return found


def _split(name: str) -> list[str]:
    return [] if name == ROOT else name.split(".")


def _join(parts: Iterable[str]) -> str:
    return ".".join(parts) or ROOT


def _known_prefix(parts: list[str], modules: Mapping[str, Path]) -> str:
    """The longest of ``parts``' prefixes that is a module (an import of ``a.b.c`` is one of
    ``a.b.c``, or of ``a.b`` when ``c`` is a name in it)."""
    for end in range(len(parts), -1, -1):
        if _join(parts[:end]) in modules:
            return _join(parts[:end])
    return ROOT


def _targets(
    node: ast.Import | ast.ImportFrom, importer: str, package: str, modules: Mapping[str, Path]
) -> list[str | None]:
    """The package's modules ``node`` imports (None for each thing outside the package)."""
    if isinstance(node, ast.Import):
        targets: list[str | None] = []
        for alias in node.names:
            parts = alias.name.split(".")
            targets.append(_known_prefix(parts[1:], modules) if parts[0] == package else None)
        return targets
    if node.level:
        here = _split(importer)
        container = here if modules[importer].name == "__init__.py" else here[:-1]
        up = node.level - 1
        if up > len(container):
            return [None]  # above the package
        parts = container[: len(container) - up] + (node.module.split(".") if node.module else [])
    else:
        absolute = (node.module or "").split(".")
        if absolute[0] != package:
            return [None]
        parts = absolute[1:]
    return [_from_target(parts, alias.name, modules) for alias in node.names]


def _from_target(parts: list[str], name: str, modules: Mapping[str, Path]) -> str:
    """``from <parts> import <name>``: the submodule ``name`` if it is one, else ``parts``' module."""
    if name != "*" and _join([*parts, name]) in modules:
        return _join([*parts, name])
    return _known_prefix(parts, modules)


def _comments(source: str) -> dict[int, str]:
    """Line number -> the comment on that line."""
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string
    return found


def _says_why(node: ast.stmt, lines: list[str], comments: Mapping[int, str]) -> bool:
    """A ``# deferred: <reason>`` comment on the statement's own line(s), or alone on the line above."""
    end = node.end_lineno or node.lineno
    if any(_DEFERRED.match(comments.get(line, "")) for line in range(node.lineno, end + 1)):
        return True
    above = node.lineno - 1
    return above >= 1 and lines[above - 1].lstrip().startswith("#") and bool(_DEFERRED.match(comments.get(above, "")))


def _import_statements(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement in ``tree``, and whether it is inside a function."""
    pending: list[tuple[ast.AST, bool]] = [(tree, False)]
    while pending:
        node, in_function = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            pending.append((child, inside))


def imports_in(root: Path, package: str) -> list[Import]:
    """Every import statement of every module of the package in ``root``."""
    modules = modules_in(root)
    found: list[Import] = []
    for importer, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        comments = _comments(source)
        for node, in_function in _import_statements(ast.parse(source, filename=str(path))):
            why = _says_why(node, lines, comments)
            for target in _targets(node, importer, package, modules):
                found.append(Import(importer, target, path, node.lineno, in_function, why))
    return found


def graph_of(imports: Iterable[Import]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a module importing itself is left out)."""
    graph: dict[str, set[str]] = {}
    for edge in imports:
        graph.setdefault(edge.importer, set())
        if edge.imported is not None and edge.imported != edge.importer:
            graph[edge.importer].add(edge.imported)
    return graph


@functools.cache
def package_imports() -> tuple[Import, ...]:
    return tuple(imports_in(PACKAGE, PACKAGE_NAME))


# ---------------------------------------------------------------------------- the checks
def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def _shortest_path(graph: Mapping[str, Iterable[str]], start: str, goal: str, within: set[str]) -> list[str]:
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            break
        for successor in sorted(graph.get(node, ())):
            if successor in within and successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    path: list[str] = []
    step: str | None = goal
    while step is not None:
        path.append(step)
        step = came_from[step]
    return path[::-1]


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: for every import inside a strongly connected component, the
    shortest cycle through it, so each import to break shows up at least once. Each cycle starts at
    its smallest module."""
    found: set[tuple[str, ...]] = set()
    for component in strongly_connected(graph):
        members = set(component)
        for importer in component:
            for imported in sorted(set(graph.get(importer, ())) & members):
                cycle = [importer, *_shortest_path(graph, imported, importer, members)[:-1]]
                start = cycle.index(min(cycle))
                found.add(tuple(cycle[start:] + cycle[:start]))
    return [list(cycle) for cycle in sorted(found)]


def shown_cycle(cycle: list[str]) -> str:
    return " -> ".join([*cycle, cycle[0]])


def layer_of(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYER_OF.get(top if top in WHOLE_SUBPACKAGES else module)


def in_sandbox(module: str) -> bool:
    return module.split(".")[0] == SANDBOX


def refusal(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported`` under the layer rules (None: it may)."""
    if ROOT in (importer, imported):
        return None  # the package's __init__ only re-exports, lazily
    if in_sandbox(importer):
        if in_sandbox(imported) or imported in SANDBOX_MAY_IMPORT:
            return None
        return f"the sandbox may import only sandbox.* and {', '.join(sorted(SANDBOX_MAY_IMPORT))}"
    high = layer_of(importer)
    if in_sandbox(imported):
        if importer in MAY_IMPORT_SANDBOX or (high is not None and high >= FRONT_END_LAYER):
            return None
        return f"only {' and '.join(sorted(MAY_IMPORT_SANDBOX))} (and the front ends) may import the sandbox"
    low = layer_of(imported)
    if high is None or low is None or low <= high:
        return None  # a module missing from the map fails test_every_module_has_a_layer
    return f"an upward import: layer {high} ({LAYER_NAMES[high]}) imports layer {low} ({LAYER_NAMES[low]})"


def area_of(module: str) -> str:
    top = module.split(".")[0]
    return top if top in ("sandbox", "cli") else "library"


# ---------------------------------------------------------------------------- the package
@pytest.mark.parametrize("area", AREAS)
def test_no_import_cycle(area: str) -> None:
    found = [
        shown_cycle(cycle)
        for cycle in cycles(graph_of(package_imports()))
        if any(area_of(module) == area for module in cycle)
    ]
    assert not found, f"{len(found)} import cycle(s) in {area}:\n" + "\n".join(found)


@pytest.mark.parametrize("area", AREAS)
def test_no_upward_import(area: str) -> None:
    found = []
    for edge in package_imports():
        if edge.imported is None or area_of(edge.importer) != area:
            continue
        reason = refusal(edge.importer, edge.imported)
        if reason is not None:
            found.append(f"{edge.where()}: {edge.importer} imports {edge.imported}: {reason}")
    assert not found, f"{len(found)} import(s) against the layers in {area}:\n" + "\n".join(found)


def test_every_module_has_a_layer() -> None:
    missing = [
        f"add {module} to the layer map in tests/test_import_graph.py and ARCHITECTURE.md"
        for module in modules_in(PACKAGE)
        if module != ROOT and not in_sandbox(module) and layer_of(module) is None
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("area", AREAS)
def test_every_import_inside_a_function_says_why(area: str) -> None:
    unexplained = sorted(
        {
            edge.where()
            for edge in package_imports()
            if edge.in_function and not edge.says_why and area_of(edge.importer) == area
        },
        key=lambda where: (where.rpartition(":")[0], int(where.rpartition(":")[2])),
    )
    assert not unexplained, (
        f"{len(unexplained)} import(s) inside a function in {area} without a `# deferred: <reason>` comment "
        "(on the line or the line above; only a heavy or optional dependency may be deferred, move the "
        "others to the top):\n" + "\n".join(unexplained)
    )


@pytest.mark.parametrize("area", AREAS)
def test_no_module_over_the_line_limit(area: str) -> None:
    too_long = []
    for module, path in modules_in(PACKAGE).items():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if area_of(module) == area and count > MAX_LINES:
            too_long.append(f"{path.relative_to(PROJECT_ROOT)}: {count} lines")
    assert not too_long, f"module(s) over {MAX_LINES} lines in {area}:\n" + "\n".join(too_long)


# ---------------------------------------------------------------------------- the checker itself
def test_the_checker_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "x": {"y"}, "y": {"x", "z"}, "z": {"x"}}
    assert [shown_cycle(cycle) for cycle in cycles(graph)] == [
        "a -> b -> c -> a",
        "x -> y -> x",
        "x -> y -> z -> x",
    ]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_checker_finds_a_planted_upward_import() -> None:
    assert refusal("errors", "session") is not None
    assert refusal("status", "display") is not None
    assert refusal("sandbox.handler", "session") is not None
    assert refusal("sandbox.handler", "tokens") is not None
    assert refusal("status", "sandbox.server") is not None
    for allowed in [
        ("session", "errors"),
        ("display", "status"),
        ("cli.main", "session"),
        ("cli.main", "cli.common"),
        ("session", "sandbox"),
        ("doctor", "sandbox.database"),
        ("cli.sandbox", "sandbox.command"),
        ("sandbox.tiktok", "signing"),
        ("sandbox.handler", "sandbox.routing"),
        ("cli.main", ROOT),
        ("errors", "not_in_the_map"),
    ]:
        assert refusal(*allowed) is None, allowed


def test_the_graph_reads_every_kind_of_import(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "NAME_IN_INIT = 1\n",
        "a.py": "from . import b\nfrom .c import thing\nimport pkg.sub.d\nimport json\n",
        "b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg import a\n",
        "c.py": (
            "thing = 1\n"
            "def f():\n"
            "    import json\n"
            "    from . import a  # deferred: a test of the same-line form\n"
            "\n"
            "def g():\n"
            "    # deferred: a test of the line-above form\n"
            "    from .sub import d\n"
            "\n"
            "class K:\n"
            "    def h(self):\n"
            "        from . import NAME_IN_INIT\n"
            "        from .sub import nothing  # a comment, but no reason\n"
        ),
        "sub/__init__.py": "",
        "sub/d.py": "from .. import c\n",
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    found = imports_in(root, "pkg")
    assert graph_of(found) == {"a": {"b", "c", "sub.d"}, "b": {"a"}, "c": {"a", "sub.d", ROOT, "sub"}, "sub.d": {"c"}}
    assert [shown_cycle(cycle) for cycle in cycles(graph_of(found))] == [
        "a -> b -> a",
        "a -> c -> a",
        "a -> sub.d -> c -> a",
        "c -> sub.d -> c",
    ]
    unexplained = sorted(edge.line for edge in found if edge.in_function and not edge.says_why)
    assert unexplained == [3, 12, 13]
    assert not any(edge.in_function for edge in found if edge.importer != "c")

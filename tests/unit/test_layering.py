"""The package's layering, read from its source: no import cycles, nothing imports the controller
back, only the simulation harnesses import the simulator, and the running controller's modules
import no entry point, tool or harness.

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING`` (a type-only
import of ``Controller`` is still a module that needs the whole controller to be understood).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "groundstation"

ENTRY_POINTS = frozenset({
    "groundstation.cli.controller",
    "groundstation.harness.demo",
    "groundstation.harness.soak",
    "groundstation.harness.lab",
})
"""The programs that build a controller: the only modules that may import it."""
SIMULATION_HARNESSES = frozenset(
    {"groundstation.harness.demo", "groundstation.harness.soak", "groundstation.harness.lab"}
)
"""The only production-side modules that may import ``sitl`` (the simulator)."""
OUTER = ("groundstation.cli", "groundstation.tools", "groundstation.harness",
         "groundstation.console", "groundstation.docksim", "groundstation.__main__")
"""The programs around the controller: entry points (``cli``), operator tools (``tools``), the
simulation harnesses, the console and the simulated docks. Nothing a running controller loads
imports them."""


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported_names(module: str, path: Path) -> Iterator[str]:
    """Every dotted name an import statement of the module reaches (relative ones resolved)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@functools.cache
def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> groundstation modules it imports, module -> sitl names it imports), read once
    (the tests below only read it)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    sitl: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for name in _imported_names(module, path):
            top = name.split(".")[0]
            if top == "sitl":
                sitl.setdefault(module, set()).add(name)
            elif top == PACKAGE:
                target = resolve(name)
                if target is not None and target not in (module, PACKAGE):
                    targets.add(target)
        edges[module] = targets
    return edges, sitl


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read_from_the_source() -> None:
    """The reader sees the imports it must see (else the tests below would pass on nothing)."""
    edges, sitl = _graph()
    assert "groundstation.core.sortie" in edges["groundstation.controller"]
    assert "groundstation.controller" in edges["groundstation.cli.controller"]
    assert "groundstation.harness.demo" in sitl
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_groundstation_has_no_import_cycle() -> None:
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_only_entry_points_import_the_controller() -> None:
    edges, _ = _graph()
    importers = {m for m, targets in edges.items() if "groundstation.controller" in targets}
    assert importers <= ENTRY_POINTS, sorted(importers - ENTRY_POINTS)


def test_only_the_simulation_harnesses_import_the_simulator() -> None:
    _, sitl = _graph()
    outside = set(sitl) - SIMULATION_HARNESSES
    assert not outside, {m: sorted(sitl[m]) for m in outside}


def test_the_core_reaches_no_adapter_and_no_part_of_the_controller() -> None:
    """``groundstation.core`` (state, rules, the sortie machine, the dispatcher, the vehicle
    interface) imports only the contract, the errors and other core modules: no adapter (MQTT,
    MAVSDK, the journal, brokers), no controller part. Two exceptions, by design: ``core.config``
    gathers the parts' own config types, and ``core.ports`` names the value types its Protocols pass
    through (a bus message, a dock's view, a journal row), for the type checker only."""
    edges, _ = _graph()
    allowed = {"groundstation.contract", "groundstation.errors"}
    ports_types = {"groundstation.adapters.bus", "groundstation.adapters.docks",
                   "groundstation.adapters.journal"}
    wrong: dict[str, list[str]] = {}
    for module, targets in edges.items():
        if not module.startswith("groundstation.core") or module == "groundstation.core.config":
            continue
        ok = allowed | (ports_types if module == "groundstation.core.ports" else set())
        bad = sorted(t for t in targets if not t.startswith("groundstation.core") and t not in ok)
        if bad:
            wrong[module] = bad
    assert wrong == {}
    assert "groundstation.core.sortie" in edges and "groundstation.adapters.bus" in edges


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_running_controller_imports_no_entry_point_tool_or_harness() -> None:
    """The controller, its parts (``control``), the core, the adapters, the contract, video and
    web import nothing of ``cli``, ``tools``, ``harness``, ``console`` or ``docksim``: a tool or
    an entry point may use the controller's modules, never the other way round."""
    edges, _ = _graph()
    wrong = {m: sorted(t for t in targets if _under(t, OUTER))
             for m, targets in edges.items() if not _under(m, OUTER)}
    assert {m: t for m, t in wrong.items() if t} == {}
    assert "groundstation.tools.security" in edges["groundstation.harness.lab"]
    assert _under("groundstation.control.watch", ("groundstation.control",))
    assert not _under("groundstation.controller", ("groundstation.control",))

"""The package's structure: no import cycles, nothing imports upward, every module imports alone.

In the style of aiohttp's ``test_circular_imports.py``, plus two static checks over the
import graph read from the source (every ``import``, including those under
``TYPE_CHECKING`` and inside functions, since an arrow is an arrow however late it is
drawn):

- no cycles: the graph's strongly connected components are all single modules;
- layers: a module imports only from its own layer or the ones below it. The layers
  are written down once, here and in the README's "Code map", lowest first.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "claude_proxy"

# Lowest first. A module belongs to the longest prefix that names it; it may import from
# its own layer and the layers before it in the same list. Each list orders the parts of
# one package; a package's parts are judged by its own list, and arrows that leave the
# package by the list above it.
LAYERS: dict[str, list[list[str]]] = {
    "claude_proxy": [
        ["claude_proxy", "claude_proxy.errors", "claude_proxy.secrets", "claude_proxy.permission_rules",
         "claude_proxy.trust", "claude_proxy.pricing"],
        ["claude_proxy.settings"],
        ["claude_proxy.requestlog", "claude_proxy.tools", "claude_proxy.mcp"],
        ["claude_proxy.proxy", "claude_proxy.chat"],
        ["claude_proxy.cli", "claude_proxy.__main__"],
    ],
    "claude_proxy.proxy": [
        ["claude_proxy.proxy", "claude_proxy.proxy.errors", "claude_proxy.proxy.headers",
         "claude_proxy.proxy.exchange", "claude_proxy.proxy.jsonbody", "claude_proxy.proxy.targets"],
        ["claude_proxy.proxy.translate", "claude_proxy.proxy.upstream"],
        ["claude_proxy.proxy.routing", "claude_proxy.proxy.protection", "claude_proxy.proxy.hooks",
         "claude_proxy.proxy.rewrite", "claude_proxy.proxy.cors", "claude_proxy.proxy.loopguard"],
        ["claude_proxy.proxy.relay", "claude_proxy.proxy.state", "claude_proxy.proxy.ui"],
        ["claude_proxy.proxy.resilience", "claude_proxy.proxy.health"],
        ["claude_proxy.proxy.forward"],
        ["claude_proxy.proxy.app", "claude_proxy.proxy.connections"],
        ["claude_proxy.proxy.server"],
        ["claude_proxy.proxy.workers"],
    ],
    "claude_proxy.proxy.upstream": [
        ["claude_proxy.proxy.upstream.http1"],
        ["claude_proxy.proxy.upstream", "claude_proxy.proxy.upstream.client", "claude_proxy.proxy.upstream.retry"],
        ["claude_proxy.proxy.upstream.fallbacks"],
    ],
    "claude_proxy.chat.api": [
        ["claude_proxy.chat.api", "claude_proxy.chat.api.errors"],
        ["claude_proxy.chat.api.stream"],
        ["claude_proxy.chat.api.client"],
    ],
    "claude_proxy.mcp": [
        ["claude_proxy.mcp", "claude_proxy.mcp.config", "claude_proxy.mcp.content"],
        ["claude_proxy.mcp.client", "claude_proxy.mcp.server"],
        ["claude_proxy.mcp.session"],
    ],
    "claude_proxy.requestlog": [
        ["claude_proxy.requestlog", "claude_proxy.requestlog.entry", "claude_proxy.requestlog.config",
         "claude_proxy.requestlog.jsontext", "claude_proxy.requestlog.sse", "claude_proxy.requestlog.schema",
         "claude_proxy.requestlog.masking", "claude_proxy.requestlog.facts"],
        ["claude_proxy.requestlog.assemble", "claude_proxy.requestlog.capture", "claude_proxy.requestlog.wire",
         "claude_proxy.requestlog.query"],
        ["claude_proxy.requestlog.row", "claude_proxy.requestlog.view", "claude_proxy.requestlog.tables"],
        ["claude_proxy.requestlog.store"],
        ["claude_proxy.requestlog.writer", "claude_proxy.requestlog.pglog", "claude_proxy.requestlog.viewer",
         "claude_proxy.requestlog.filecheck", "claude_proxy.requestlog.childproc"],
        ["claude_proxy.requestlog.process", "claude_proxy.requestlog.child"],
    ],
    "claude_proxy.requestlog.store": [
        ["claude_proxy.requestlog.store", "claude_proxy.requestlog.store.content",
         "claude_proxy.requestlog.store.pieces", "claude_proxy.requestlog.store.protocol",
         "claude_proxy.requestlog.store.pgschema"],
        ["claude_proxy.requestlog.store.threads"],
        ["claude_proxy.requestlog.store.naming"],
        ["claude_proxy.requestlog.store.writing", "claude_proxy.requestlog.store.summary"],
        ["claude_proxy.requestlog.store.sqlite", "claude_proxy.requestlog.store.retention",
         "claude_proxy.requestlog.store.pgwriting", "claude_proxy.requestlog.store.postgres",
         "claude_proxy.requestlog.store.pgretention"],
        ["claude_proxy.requestlog.store.targets"],
    ],
    "claude_proxy.tools": [
        ["claude_proxy.tools", "claude_proxy.tools.base"],
        ["claude_proxy.tools.guard", "claude_proxy.tools.validation", "claude_proxy.tools.walk",
         "claude_proxy.tools.netpolicy"],
        ["claude_proxy.tools.workspace", "claude_proxy.tools.grepengine", "claude_proxy.tools.todo"],
        ["claude_proxy.tools.files", "claude_proxy.tools.notebook", "claude_proxy.tools.search",
         "claude_proxy.tools.shell", "claude_proxy.tools.web", "claude_proxy.tools.websearch"],
        ["claude_proxy.tools.edit"],
        ["claude_proxy.tools.registry"],
    ],
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str:
    """The module an imported name lives in (``pkg.mod.Class`` -> ``pkg.mod``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {_owner(a.name) for a in node.names if a.name.startswith("claude_proxy")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("claude_proxy"):
            assert node.level == 0, f"{path}: relative import of {node.module}"
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in MODULES else _owner(node.module))
    return out


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _position(module: str, package: str) -> int | None:
    """The layer of ``module`` in ``package``'s list (by its longest listed prefix), or None."""
    best, best_len = None, -1
    for level, names in enumerate(LAYERS[package]):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_len:
                best, best_len = level, len(name)
    return best


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every arrow that points to a higher layer, in the innermost list that holds both ends."""
    problems = []
    for source, targets in graph.items():
        for target in targets:
            for package in sorted(LAYERS, key=len, reverse=True):
                inside = (package, package + ".")
                if not (source == package or source.startswith(inside[1])) or not (
                        target == package or target.startswith(inside[1])):
                    continue
                mine, theirs = _position(source, package), _position(target, package)
                if mine is None or theirs is None:
                    continue
                if theirs > mine:
                    problems.append(f"{source} -> {target} (layer {mine} imports layer {theirs} in {package})")
                if mine != theirs or source.startswith(target + ".") or target.startswith(source + "."):
                    break  # judged here; a package's own list decides only arrows between its parts
    return sorted(problems)


def test_the_package_has_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_nothing_imports_upward() -> None:
    assert _upward(GRAPH) == []


def test_every_module_is_in_a_layer() -> None:
    """A new top-level part, or a new module in a layered package, must be given its place."""
    unplaced = []
    for module in MODULES:
        for package in LAYERS:
            inside = module == package or module.startswith(package + ".")
            if inside and _position(module, package) is None:
                unplaced.append(f"{module} (in {package})")
    assert unplaced == []


def test_the_checks_see_a_cycle_and_an_upward_arrow() -> None:
    """The checkers themselves: a made-up graph with one of each is caught."""
    graph = {"claude_proxy.settings": {"claude_proxy.proxy.app"}, "claude_proxy.proxy.app": {"claude_proxy.settings"}}
    assert _cycles(graph) == [["claude_proxy.proxy.app", "claude_proxy.settings"]]
    assert _upward(graph) == ["claude_proxy.settings -> claude_proxy.proxy.app (layer 1 imports layer 3 "
                              "in claude_proxy)"]


def _import_alone(module: str) -> tuple[str, int, str]:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
    return module, done.returncode, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


@pytest.mark.processes
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """An import cycle that only bites in one import order shows up here, as in aiohttp's test."""
    runnable = [m for m in MODULES if m != "claude_proxy.__main__" and m != "claude_proxy.requestlog.child"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f"{m}: {err}" for m, code, err in pool.map(_import_alone, runnable) if code != 0]
    assert failures == []

"""The layers of docs/architecture.md, checked on the real import graph (every `import` in every
module, function-level ones included, as grimp reads them):

- the import-linter contracts in pyproject.toml (dialogs never imports a channel adapter, the
  core never imports the engine, an adapter or the composition root) are kept;
- the contract's list of core modules is every module of `backend` except the composition
  root and the web adapter, so a new core module cannot slip out of the rule;
- no module imports itself back through others: the graph has no cycle."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("backend", "bot", "dialogs", "notifications")
# backend's members that are not the core: the composition root and the web adapter
NOT_CORE = {"backend.app", "backend.api", "backend.webchat"}


def _config() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    config: dict[str, object] = data["tool"]["importlinter"]
    return config


def test_import_linter_contracts_are_kept(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0


def test_the_core_contract_names_every_core_module() -> None:
    (core,) = [
        c
        for c in _config()["contracts"]  # type: ignore[attr-defined]
        if "dialogs" in c["forbidden_modules"] and c["source_modules"] != ["dialogs"]
    ]
    members = {
        f"backend.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "backend").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert set(core["source_modules"]) == members - NOT_CORE


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
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
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def test_the_import_graph_has_no_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a graph with a cycle is reported."""
    graph = grimp.ImportGraph()
    for importer, imported in [("a.x", "a.y"), ("a.y", "a.z"), ("a.z", "a.x"), ("a.z", "a.w")]:
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]

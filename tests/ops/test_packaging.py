"""`pip install .` (what the Docker image does) must bring every package the running code
imports: a package that is only in the developer's .venv passes the tests and breaks the
image."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires

from backend.config import ROOT_DIR

FIRST_PARTY = {"backend", "notifications", "bot", "dialogs", "main"}
RUNTIME_SOURCES = ["main.py", "backend", "notifications", "bot", "dialogs"]
DEV_EXTRAS = {"test", "dev"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0]).lower()


def _closure(names: set[str]) -> set[str]:
    """The distributions these pull in (unconditional requirements and the extras named)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [_name(r) for r in reqs if "extra ==" not in r]
    return seen


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for source in RUNTIME_SOURCES:
        path = ROOT_DIR / source
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    found.setdefault(top, set()).add(str(file.relative_to(ROOT_DIR)))
    return found


def test_every_runtime_import_is_installed_by_pip_install_dot():
    project = tomllib.loads((ROOT_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # requirements with extras ("uvicorn[standard]") pull in those extras' packages too
    declared = {_name(r) for r in project["dependencies"]}
    for requirement in project["dependencies"]:
        m = re.match(r"^([^\[\s]+)\[([^\]]+)\]", requirement)
        if m:
            base = _name(m.group(1))
            extras = {e.strip() for e in m.group(2).split(",")}
            for r in requires(base) or []:
                if any(f'extra == "{e}"' in r for e in extras):
                    declared.add(_name(r))
    for extra, reqs in project.get("optional-dependencies", {}).items():
        if extra not in DEV_EXTRAS:  # optional features (rasa ...) are installed on purpose
            declared |= {_name(r) for r in reqs}
    installed = _closure(declared)
    distributions = packages_distributions()
    missing = {}
    for module, files in sorted(_imports().items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY:
            continue
        dists = {_name(d) for d in distributions.get(module, [module])}
        if not dists & installed:
            missing[module] = sorted(files)
    assert missing == {}, "imported but not in pyproject.toml [project] dependencies"

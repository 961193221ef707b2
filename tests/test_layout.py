"""The code's layout holds (README "How the code is laid out"): what each part may import, no
import cycle, click only in the commands. Read from the source, lazy imports included."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "nsaudit"
# Always allowed: the package itself (its version) and the small shared pieces.
BASE = {
    "nsaudit", "errors", "timespan", "userfile", "hostfs", "sigint", "refs", "jsonshape",
    "tomlpos", "timing", "workers",
}  # fmt: skip
# What each part may import besides BASE, as the README's layout says.
MAY_IMPORT: dict[str, set[str]] = {
    "model": set(),
    "render": {"model"},
    "fields": {"model", "render"},
    "kernel": {"model"},
    "collect": {"model"},
    "analysis": {"model"},
    "policy": {"model", "kernel", "analysis"},
    "store": {"model", "fields", "kernel"},
    "compliance": {"model", "analysis", "policy", "store"},
    "settings": {"model", "policy", "store"},
    "views": {"model", "fields", "render", "kernel", "analysis", "policy", "compliance"},
    "bundle": {"model", "fields", "kernel"},
    "watch": {"model", "store", "collect"},
    "app": {
        "model",
        "kernel",
        "collect",
        "analysis",
        "policy",
        "store",
        "compliance",
        "settings",
        "bundle",
        "watch",
    },
    "cli": {"*"},
    "__main__": {"cli", "collect"},  # collect: the prescan, begun before the commands load
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """nsaudit module -> the nsaudit modules it imports; module -> other packages it imports."""
    modules = _modules()

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    inner: dict[str, set[str]] = defaultdict(set)
    outer: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == "nsaudit":
                    found = known(target)
                    if found != name:
                        inner[name].add(found)
                else:
                    outer[name].add(target.split(".")[0])
    return inner, outer


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "nsaudit"


def test_each_part_imports_only_what_the_layout_allows() -> None:
    inner, _ = _graph()
    wrong = []
    for module, targets in inner.items():
        part = _part(module)
        if part in BASE:
            allowed = BASE
        else:
            assert part in MAY_IMPORT, f"{module}: a part the layout does not name"
            allowed = BASE | MAY_IMPORT[part] | {part}
        if "*" in allowed:
            continue
        wrong += [f"{module} imports {t}" for t in sorted(targets) if _part(t) not in allowed]
    assert wrong == []


def test_no_import_cycle() -> None:
    inner, _ = _graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(inner[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[module] = 2
        return None

    for module in sorted(_modules()):
        if module not in state:
            assert visit(module, [module]) is None


def test_only_the_commands_import_click() -> None:
    _, outer = _graph()
    assert sorted(m for m, pkgs in outer.items() if "click" in pkgs and _part(m) != "cli") == []


# The commands parse, call the application layer, and render: they reach the store only for
# the database handle and its shown name, and no analysis part at all.
CLI_MAY_IMPORT = {
    "app", "cli", "views", "render", "bundle", "settings", "model",
    "store.database", "store.engine", "store.location", "store.schema", "kernel.nstypes",
}  # fmt: skip


def test_the_commands_call_the_application_layer() -> None:
    inner, _ = _graph()
    wrong = []
    for module, targets in inner.items():
        if _part(module) != "cli":
            continue
        for target in sorted(targets):
            part = _part(target)
            inside = ".".join(target.split(".")[1:3])
            if part not in BASE and part not in CLI_MAY_IMPORT and inside not in CLI_MAY_IMPORT:
                wrong.append(f"{module} imports {target}")
    assert wrong == []

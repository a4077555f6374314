"""The layering rules of ``docs/architecture.md``, checked on the source.

The package is layered: the core (``workflows/*.py`` and its folders ``context``,
``representation``, ``runtime``, ``testing``, ``plugins``) at the bottom, then the
stores, the engine, and the server, client, CLI and integrations. Layers meet through
public names only (seam modules such as ``workflows.runtime.host`` are public by
convention). The rules, read from the AST of every module under ``src/workflows``:

- imports point down: each layer imports only the layers listed in ``_MAY_IMPORT``
  (the stores take only ``workflows.errors`` from the core);
- no module imports another layer's underscored module or underscored name;
- no module outside the core reads a single-underscore attribute of an object other
  than ``self``/``cls``, unless its own layer defines that attribute and the core does
  not (``_ALLOWED_ATTRIBUTES`` lists the few exceptions, with their reasons);
- inside the engine, only ``_engine.py`` reads ``engine._x`` (or ``self._engine._x``,
  ``self.engine._x``): the other parts use the ``EngineCore`` members of
  ``workflows.engine._parts``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import workflows

_ROOT = Path(workflows.__file__).parent
_OUTER = ("stores", "engine", "server", "client", "cli", "integrations")
_MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "stores": frozenset({"workflows.errors"}),
    "engine": frozenset({"core", "stores"}),
    "server": frozenset({"core", "stores", "engine"}),
    "client": frozenset({"core", "stores"}),
    "cli": frozenset({"core", "stores", "engine", "server", "client"}),
    "integrations": frozenset({"core"}),
}
"""Which layers each layer may import (``workflows.errors``: that one core module)."""

_ALLOWED_ATTRIBUTES: dict[str, str] = {
    "_exit": "os._exit: the standard library's way to end a process at once",
    "_replace": "namedtuple._replace (urlsplit results): public API despite the underscore",
}
"""Underscored attributes any layer may read, and why."""

_ENGINE_NAMES = ("engine", "_engine")
"""The names an engine part holds the engine under."""

_ENGINE_PRIVATE_READS_ALLOWED: dict[tuple[str, str], str] = {}
"""``(module, attribute)`` reads of the engine's privates still allowed, and why."""


@dataclass(frozen=True)
class _Module:
    path: Path
    name: str  # workflows.engine._engine
    layer: str
    tree: ast.Module


def _layer(path: Path) -> str:
    parts = path.relative_to(_ROOT).parts
    return parts[0] if len(parts) > 1 and parts[0] in _OUTER else "core"


def _modules() -> list[_Module]:
    found = []
    for path in sorted(_ROOT.rglob("*.py")):
        parts = list(path.relative_to(_ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found.append(_Module(path, ".".join(parts), _layer(path), tree))
    return found


def _layer_of_module(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in _OUTER else "core"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imports(module: _Module) -> Iterator[tuple[int, str, str | None]]:
    """``(line, absolute module, imported name or None)`` for each import of ``workflows``."""
    package = module.name.split(".")
    if module.path.name != "__init__.py":
        package.pop()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                yield node.lineno, target, alias.name


def _where(module: _Module, line: int) -> str:
    return f"{module.path.relative_to(_ROOT.parent)}:{line}"


def _import_violations(modules: list[_Module]) -> list[str]:
    found = []
    for module in modules:
        for line, target, name in _imports(module):
            if target != "workflows" and not target.startswith("workflows."):
                continue
            layer = _layer_of_module(target)
            if layer == module.layer:
                continue
            what = f"{target}" + (f".{name}" if name else "")
            allowed = _MAY_IMPORT[module.layer]
            if layer not in allowed and target not in allowed:
                found.append(f"{_where(module, line)}: the {module.layer} imports {what}")
            # ``from workflows.engine import _x`` names a module or a name: both private.
            if any(_private(part) for part in target.split(".")) or (name and _private(name)):
                found.append(f"{_where(module, line)}: imports private {what}")
    return found


def _defined_attributes(modules: list[_Module]) -> dict[str, set[str]]:
    """Per layer, the underscored attributes its classes define or its code sets on
    ``self``/``cls``."""
    defined: dict[str, set[str]] = defaultdict(set)
    for module in modules:
        names = defined[module.layer]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        names.add(item.name)
                    elif isinstance(item, ast.Assign):
                        names.update(t.id for t in item.targets if isinstance(t, ast.Name))
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(item.target.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
    return {layer: {n for n in names if _private(n)} for layer, names in defined.items()}


def _attribute_uses(module: _Module) -> Iterator[tuple[int, str, str]]:
    """``(line, attribute, source)`` for each underscored attribute used on an object
    other than ``self``/``cls``, including ``getattr(obj, "_x")`` and its kin."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            yield node.lineno, node.attr, ast.unparse(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and not (isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls"))
        ):
            yield node.lineno, node.args[1].value, ast.unparse(node)


def _attribute_violations(modules: list[_Module]) -> list[str]:
    defined = _defined_attributes(modules)
    core = defined.get("core", set())
    found = []
    for module in modules:
        if module.layer == "core":
            continue
        own = defined.get(module.layer, set())
        for line, attr, source in _attribute_uses(module):
            if attr in _ALLOWED_ATTRIBUTES or (attr in own and attr not in core):
                continue
            found.append(f"{_where(module, line)}: the {module.layer} reads {source}")
    return found


def _engine_private_reads(modules: list[_Module]) -> list[str]:
    """Reads of ``engine._x`` by engine modules other than ``_engine.py``."""
    found = []
    for module in modules:
        if module.layer != "engine" or module.name == "workflows.engine._engine":
            continue
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            held = node.value
            name = (
                held.id
                if isinstance(held, ast.Name)
                else held.attr
                if isinstance(held, ast.Attribute)
                else None
            )
            if name in _ENGINE_NAMES and (module.name, node.attr) not in (
                _ENGINE_PRIVATE_READS_ALLOWED
            ):
                found.append(f"{_where(module, node.lineno)}: reads {ast.unparse(node)}")
    return found


@pytest.fixture(scope="module")
def modules() -> list[_Module]:
    return _modules()


def test_the_scan_sees_every_layer(modules: list[_Module]) -> None:
    layers = {m.layer for m in modules}
    assert layers == {"core", *_OUTER}
    assert any(m.name == "workflows.engine._engine" for m in modules)


def test_layers_import_only_the_layers_below_and_no_private_module(
    modules: list[_Module],
) -> None:
    found = _import_violations(modules)
    assert not found, "\n".join(found)


def test_no_layer_reads_another_layers_private_attributes(modules: list[_Module]) -> None:
    found = _attribute_violations(modules)
    assert not found, "\n".join(found)


def test_engine_parts_use_only_the_engine_core(modules: list[_Module]) -> None:
    found = _engine_private_reads(modules)
    assert not found, "\n".join(found)


def _parsed(source: str, name: str) -> list[_Module]:
    path = _ROOT.joinpath(*name.split(".")[1:]).with_suffix(".py")
    return [_Module(path, name, _layer(path), ast.parse(source))]


def test_the_rules_catch_what_they_forbid() -> None:
    """Each rule flags a sample that breaks it (so a rule cannot pass by seeing nothing)."""
    engine = "workflows.engine._sample"
    assert _import_violations(_parsed("from .._runtime import Run", engine))
    assert _import_violations(_parsed("from workflows._snapshot import x", engine))
    assert _import_violations(_parsed("from ..server import create_app", engine))
    assert _import_violations(_parsed("from ..workflow import Workflow", "workflows.stores._x"))
    assert not _import_violations(_parsed("from ..errors import StoreError", "workflows.stores._x"))
    assert _import_violations(_parsed("from .engine import Engine", "workflows.workflow"))
    assert not _import_violations(_parsed("from ._engine import Engine", engine))
    sample = _parsed("def f(wf, os):\n    wf._graph()\n    os._exit(1)\n", engine)
    core_attr = _parsed("class C:\n    def _graph(self): ...\n", "workflows.workflow")
    assert _attribute_violations([*sample, *core_attr]) == [
        f"{_where(sample[0], 2)}: the engine reads wf._graph"
    ]
    getter = _parsed("def f(wf):\n    getattr(wf, '_launch', None)\n", engine)
    assert _attribute_violations(getter)
    part = _parsed(
        "def f(self, engine):\n    engine._loaded\n    self._engine._phase\n    engine.loaded\n",
        engine,
    )
    assert _engine_private_reads(part) == [
        f"{_where(part[0], 2)}: reads engine._loaded",
        f"{_where(part[0], 3)}: reads self._engine._phase",
    ]
    inside = _parsed("def f(self):\n    self._engine._phase\n", "workflows.engine._engine")
    assert not _engine_private_reads(inside)

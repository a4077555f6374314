"""Dump or compare the public API of an installed ``workflows`` package.

Two modes:

``python scripts/api_surface.py dump OUT.json``
    Walks every public module of the ``workflows`` package importable by the running
    interpreter and writes each module's public names with their kind and, for
    callables, their ``inspect.signature``. Run it with the interpreter of a throwaway
    venv holding ``llama-index-workflows==2.26.1`` to refresh the reference file.

``python scripts/api_surface.py diff REFERENCE.json [--deliberate docs/compat_deliberate.json]``
    Compares the reference dump with the ``workflows`` importable here and prints the
    modules and names missing here, then the signatures that differ. Names and
    signatures listed as deliberate differences are reported apart, with their reason.
    Signatures are compared after :func:`_equivalent` rewrites spellings that mean the
    same type. Exits 1 when something is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import pkgutil
import re
import sys
import types
import typing
import warnings
from typing import Any

# Sub-packages that are deprecated re-exports of other distributions in the reference.
_SKIP_PREFIXES = ("workflows.server", "workflows.client", "workflows.protocol")


# Names whose ``__module__`` starts with one of these count as the package's own.
_OWN_PACKAGES = frozenset({"workflows", "llama_index", "llama_index_instrumentation"})


def _public_modules() -> list[str]:
    import workflows

    names = ["workflows"]
    for info in pkgutil.walk_packages(workflows.__path__, "workflows."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts):
            continue
        if info.name.startswith(_SKIP_PREFIXES):
            continue
        names.append(info.name)
    return sorted(names)


def _signature(obj: Any) -> str | None:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return None


def _describe(obj: Any) -> dict[str, Any]:
    if inspect.isclass(obj):
        members: dict[str, str | None] = {}
        for attr, value in vars(obj).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            if isinstance(value, property):
                members[attr] = "<property>"
            elif inspect.isfunction(value):
                members[attr] = _signature(value)
        fields = sorted(getattr(obj, "model_fields", {}) or {})
        return {"kind": "class", "members": members, "fields": fields}
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return {"kind": "function", "signature": _signature(obj)}
    if inspect.ismodule(obj):
        return {"kind": "module"}
    if callable(obj):
        return {"kind": "callable", "signature": _signature(obj)}
    return {"kind": "value"}


def _module_names(module: Any) -> list[str]:
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return sorted(set(exported))
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or name == "TYPE_CHECKING" or inspect.ismodule(value):
            continue
        if not _is_own(value) or not _defined_in(value, module.__name__):
            continue
        names.append(name)
    return sorted(names)


def _defined_in(value: Any, module_name: str) -> bool:
    """Whether a class or function was defined in ``module_name`` (not imported into it).

    Without ``__all__``, a name a module merely imports is not part of its API.
    """
    if inspect.isclass(value) or inspect.isfunction(value):
        return getattr(value, "__module__", None) == module_name
    return True


def _is_own(value: Any) -> bool:
    """Whether a module attribute belongs to the package (not typing, stdlib, pydantic)."""
    if isinstance(value, (int, float, str, bytes, tuple, frozenset)) or value is None:
        return True
    if isinstance(value, (typing.TypeVar, types.UnionType)) or type(value).__name__ in (
        "_GenericAlias",
        "_UnionGenericAlias",
    ):
        return True
    origin = getattr(value, "__module__", None)
    if not isinstance(origin, str):
        return False
    return origin.split(".")[0] in _OWN_PACKAGES


def dump() -> dict[str, Any]:
    """Return ``{module: {name: description}}`` for the importable ``workflows``."""
    surface: dict[str, Any] = {}
    for mod_name in _public_modules():
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                module = importlib.import_module(mod_name)
            except Exception as exc:
                surface[mod_name] = {"__import_error__": repr(exc)}
                continue
        entries = {}
        for name in _module_names(module):
            if not hasattr(module, name):
                continue
            entries[name] = _describe(getattr(module, name))
        surface[mod_name] = entries
    return surface


# Spellings of one type that differ only in form, rewritten before signatures compare.
_SAME_TYPE: tuple[tuple[re.Pattern[str], str], ...] = (
    # A string annotation under ``from __future__ import annotations``: "'X'" is 'X'.
    (re.compile(r"\"'([^\"]*)'\""), r"'\1'"),
    # pydantic's inherited ``model_post_init(self: BaseModel, ...)``.
    (re.compile(r"^\(self: 'BaseModel'"), "(self"),
    # ``Callable`` and ``StepFunction`` without parameters mean ``[..., Any]``.
    (re.compile(r"\b(Callable|StepFunction)\[\.\.\., Any\]"), r"\1"),
    # ``Context`` without a parameter is ``Context[Any]``.
    (re.compile(r"\bContext\[Any\]"), "Context"),
)


def _equivalent(signature: str | None, member: str = "") -> str | None:
    """``signature`` with the spellings of :data:`_SAME_TYPE` made one.

    An ``__init__`` without a return annotation counts as ``-> None``.
    """
    if signature is None:
        return None
    for pattern, replacement in _SAME_TYPE:
        signature = pattern.sub(replacement, signature)
    if member == "__init__":
        signature = re.sub(r" -> '?None'?$", "", signature)
    return signature


def _load_here(mod_name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(mod_name)


def diff(reference: dict[str, Any], deliberate: dict[str, str]) -> int:
    """Print what the reference has and the importable ``workflows`` lacks."""
    missing: list[str] = []
    excused: list[tuple[str, str]] = []
    signatures: list[str] = []
    excused_signatures: list[tuple[str, str]] = []

    def _compare(key: str, ref_sig: str | None, here_sig: str | None, member: str) -> None:
        if not ref_sig or _equivalent(here_sig, member) == _equivalent(ref_sig, member):
            return
        reason = _excuse(key)
        if reason:
            excused_signatures.append((key, reason))
        else:
            signatures.append(f"{key}{ref_sig}  here: {here_sig}")

    def _excuse(key: str) -> str | None:
        for prefix, reason in deliberate.items():
            if key == prefix or key.startswith(prefix + ".") or key.startswith(prefix + ":"):
                return reason
        return None

    for mod_name, entries in sorted(reference.items()):
        if "__import_error__" in entries:
            continue
        try:
            module = _load_here(mod_name)
        except Exception as exc:
            reason = _excuse(mod_name)
            if reason:
                excused.append((mod_name, reason))
            else:
                missing.append(f"{mod_name} (module: {type(exc).__name__}: {exc})")
            continue
        for name, ref in sorted(entries.items()):
            key = f"{mod_name}:{name}"
            if not hasattr(module, name):
                reason = _excuse(key) or _excuse(mod_name)
                if reason:
                    excused.append((key, reason))
                else:
                    missing.append(key)
                continue
            here = _describe(getattr(module, name))
            _compare(key, ref.get("signature"), here.get("signature"), "")
            for member, sig in ref.get("members", {}).items():
                mkey = f"{key}.{member}"
                here_members = here.get("members", {})
                obj = getattr(module, name)
                if member not in here_members and not hasattr(obj, member):
                    reason = _excuse(mkey)
                    if reason:
                        excused.append((mkey, reason))
                    else:
                        missing.append(mkey)
                    continue
                here_sig = here_members.get(member)
                if here_sig is None:
                    here_value = inspect.getattr_static(obj, member, None)
                    if isinstance(here_value, (classmethod, staticmethod)):
                        here_value = here_value.__func__
                    if isinstance(here_value, property):
                        here_sig = "<property>"
                    elif inspect.isfunction(here_value):
                        here_sig = _signature(here_value)
                _compare(mkey, sig, here_sig, member)
            for field in ref.get("fields", []):
                fkey = f"{key}.{field}"
                obj = getattr(module, name)
                if field not in (getattr(obj, "model_fields", {}) or {}) and not _excuse(fkey):
                    missing.append(f"{fkey} (field)")

    print(f"missing: {len(missing)}")
    for item in missing:
        print(f"  - {item}")
    print(f"deliberate differences: {len(excused)}")
    for key, reason in excused:
        print(f"  - {key}: {reason}")
    print(f"deliberate signature differences: {len(excused_signatures)}")
    for key, reason in excused_signatures:
        print(f"  - {key}: {reason}")
    print(f"signature differences: {len(signatures)}")
    for item in signatures:
        print(f"  - {item}")
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out")
    c = sub.add_parser("diff")
    c.add_argument("reference")
    c.add_argument("--deliberate", default=None)
    args = parser.parse_args(argv)
    if args.command == "dump":
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(dump(), fh, indent=1, sort_keys=True)
        return 0
    with open(args.reference, encoding="utf-8") as fh:
        reference = json.load(fh)
    deliberate: dict[str, str] = {}
    if args.deliberate:
        with open(args.deliberate, encoding="utf-8") as fh:
            deliberate = json.load(fh)
    return diff(reference, deliberate)


if __name__ == "__main__":
    sys.exit(main())

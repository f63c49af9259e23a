"""Lazy exports of a package: names are imported from their module on first use (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for a package whose ``namespace`` (its ``globals()``) exports ``exports``.

    ``exports`` maps each public name to the module that defines it (``"pkg.module"``), or to
    ``"pkg.module:attribute"`` where the name differs there; ``submodules`` names sub-modules of the
    package that are imported on first access. The first access imports the module and caches the
    value in ``namespace``, so importing the package itself stays light.
    """
    package = namespace["__name__"]
    submodules = frozenset(submodules)

    def __getattr__(name: str):
        if name in exports:
            module, _, attribute = exports[name].partition(":")
            value = getattr(importlib.import_module(module), attribute or name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports) | submodules)

    return __getattr__, __dir__

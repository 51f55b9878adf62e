"""Package re-exports loaded on first use (PEP 562).

Importing one module of a stage then does not import the others and their libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, exports: Mapping[str, str],
                 namespace: MutableMapping[str, Any]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports a re-exported name on first use.

    Parameters
    ----------
    package
        The package's ``__name__``.
    exports
        Name -> the module that owns it.
    namespace
        The package's ``globals()``: a name, once imported, is kept there.

    Returns
    -------
    callable
        ``__getattr__(name)``: the re-exported name, else the package's submodule ``name``,
        else ``AttributeError``.
    """

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            try:  # a module of the package not imported yet
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
                msg = f"module {package!r} has no attribute {name!r}"
                raise AttributeError(msg) from None
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return getattr_

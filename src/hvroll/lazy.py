"""Packages that import what they export on first use (PEP 562's module ``__getattr__``).

A package whose ``__init__`` imported all of its modules made every import of it pay for all
of them: the command line's help, which only shows a few defaults, loaded SQLAlchemy, the
lab's control code and the testbed's with it. Such a package names where each export lives
and sets ``__getattr__ = exports(__name__, where, globals())``; a type checker still sees the
same names through ``if TYPE_CHECKING:`` imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from importlib import import_module
from typing import Any


def exports(package: str, where: Mapping[str, tuple[str, str]],
            namespace: MutableMapping[str, Any]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: a name of ``where`` (mapped to the module
    that defines it and its name there) is imported, kept in ``namespace`` (the package's
    globals, so it is looked up once) and returned; any other name is the package's
    submodule of that name (``package.name``, as when ``__init__`` imported them all), or
    ``AttributeError``."""

    def lookup(name: str) -> Any:
        if name in where:
            module, attr = where[name]
            value = getattr(import_module(module), attr)
            namespace[name] = value
            return value
        try:
            return import_module(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{name}":
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return lookup

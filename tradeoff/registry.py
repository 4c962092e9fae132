"""One plugin contract for every family: samplers, learners, transfer methods, systems.

A family is a package, and each member is one module of it, named after the member
(``log_forest.py`` is the learner ``log-forest``). The family's contract and shared code live in
its ``base.py`` and in modules whose names start with an underscore, which are not members. A member module defines one
class derived from the family's base class; the registry imports a member only when it is
asked for, so listing a family (the CLI's help, ``tradeoff systems``) costs no imports, and
adding a member is one new module: no list to edit, no registration by import side effects,
no import cycle (members import the family's base, never the registry's users).

Systems are the same shape over spec files: ``systems/<name>.yaml`` is the member, its
``driver`` names the module that runs it (see ``systems/__init__.py``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from functools import cached_property
from pathlib import Path
from typing import Generic, TypeVar

from tradeoff.errors import TradeoffError

T = TypeVar("T")


def member_name(module: str) -> str:
    return module.replace("_", "-")


def module_name(member: str) -> str:
    return member.replace("-", "_")


class Registry(Generic[T]):
    """The members of one family: ``names()``, ``summaries()`` without importing, ``get(name)``."""

    def __init__(self, family: str, package: str, base: str):
        self.family, self.package, self._base = family, package, base  # base: "module:Class", imported on use

    @cached_property
    def _folder(self) -> Path:
        return Path(importlib.util.find_spec(self.package).submodule_search_locations[0])

    def names(self) -> list[str]:
        return sorted(member_name(m.name) for m in pkgutil.iter_modules([str(self._folder)]) if not m.name.startswith("_") and m.name != "base")

    def summaries(self) -> dict[str, str]:
        """Each member's one-line help: the first line of its module docstring, read without importing it."""
        return {name: (ast.get_docstring(ast.parse((self._folder / f"{module_name(name)}.py").read_text())) or "").split("\n")[0]
                for name in self.names()}

    def check(self, name: str) -> str:
        if name not in self.names():
            raise TradeoffError(f"unknown {self.family} {name!r}; use one of {', '.join(self.names())}")
        return name

    def get(self, name: str) -> type[T]:
        """The member's class (its module imported now)."""
        module = importlib.import_module(f"{self.package}.{module_name(self.check(name))}")
        base_module, base_name = self._base.split(":")
        base = getattr(importlib.import_module(base_module), base_name)
        found = [value for value in vars(module).values()
                 if isinstance(value, type) and issubclass(value, base) and value.__module__ == module.__name__]
        if len(found) != 1:
            raise RuntimeError(f"{module.__name__} must define exactly one {base_name}, not {len(found)}")
        return found[0]

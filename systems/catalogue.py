"""The systems: one spec file each, ``systems/<name>.yaml``, listed without importing any driver.

A spec is a member when it has a ``driver`` key: the module of systems/ that runs it (``x264``,
``ase17``, ``command`` for a declarative command spec), whose one System subclass builds the
system with ``from_spec(spec, environment, workload)``. Everything else in the folder (base.py,
replay.py, cnf.py, the kernels, the measured scripts such as sqlite_workload.py) is not a
member. Adding a system is its spec plus, unless an existing driver runs it, one driver module.
"""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path

from systems.base import System, load_spec
from tradeoff.errors import TradeoffError
from tradeoff.registry import Registry, member_name

_DRIVERS = Registry[System]("system driver", "systems", "systems.base:System")


class Catalogue(Registry[System]):
    """The systems family: the Registry's methods over spec files; ``get`` builds a system."""

    def __init__(self):
        super().__init__("system", "systems", "systems.base:System")

    @cached_property
    def _specs(self) -> dict[str, dict]:
        specs = {name: load_spec(name) for name in sorted(path.stem for path in self._folder.glob("*.yaml"))}
        return {name: spec for name, spec in specs.items() if isinstance(spec, dict) and "driver" in spec}

    def names(self) -> list[str]:
        return list(self._specs)

    def summaries(self) -> dict[str, str]:
        return {name: spec["description"] for name, spec in self._specs.items()}

    def kind(self, name: str) -> str:
        """live (a real program), replay (recorded measurements) or synthetic (a known ground truth)."""
        return self._specs[self.check(name)]["kind"]

    def spec(self, name: str) -> dict:
        """A fresh copy of the system's spec."""
        return copy.deepcopy(self._specs[self.check(name)])

    def driver(self, name: str) -> type[System]:
        """The System subclass that runs the system (its driver module imported now)."""
        return _DRIVERS.get(member_name(self.spec(name)["driver"]))

    def get(self, name: str, environment: str | None = None, workload: str | None = None) -> System:
        """The system built from its spec in ``environment`` (a replay's ``workload`` picks its recorded column)."""
        return self.driver(name).from_spec(self.spec(name), environment, workload)


SYSTEMS = Catalogue()


def get_system(name: str, environment: str | None = None, workload: str | None = None) -> System:
    """A system by name, a command spec by its .yaml path, or a campaign folder (or imported table) to replay."""
    if name in SYSTEMS.names():
        return SYSTEMS.get(name, environment, workload)
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        from systems.command import load
        return load(name, environment)
    if Path(name).is_dir():
        from systems.replay import from_campaign
        return from_campaign(name)
    raise TradeoffError(f"unknown system {name!r}; run 'tradeoff systems' to list them, or give a campaign folder to replay")

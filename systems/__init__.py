"""Measured systems: live drivers, replays of published data, synthetic ground truths.

``get_system(name, environment)`` builds a system by name; a path to a campaign folder (or
an imported table) replays it. ``catalogue()`` lists every system with its kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from systems.base import System
from tradeoff.errors import TradeoffError


def _live(module: str) -> Callable[[str | None, str | None], System]:
    def factory(environment: str | None, workload: str | None) -> System:
        return __import__(f"systems.{module}", fromlist=["make"]).make(environment or "local")
    return factory


def _ase17(name: str) -> Callable[[str | None, str | None], System]:
    def factory(environment: str | None, workload: str | None) -> System:
        from systems import ase17
        return ase17.make(name, environment, workload)
    return factory


def _command(spec: str) -> Callable[[str | None, str | None], System]:
    def factory(environment: str | None, workload: str | None) -> System:
        from systems import command
        return command.load(Path(__file__).with_name(spec), environment)
    return factory


def _jetson(kind: str) -> Callable[[str | None, str | None], System]:
    def factory(environment: str | None, workload: str | None) -> System:
        from systems import jetson
        return getattr(jetson, kind)(environment, workload)
    return factory


def _storm(environment: str | None, workload: str | None) -> System:
    from systems import storm
    return storm.make(environment)


# name -> (kind, description, factory(environment, workload)); a replay's workload picks its recorded column.
SYSTEMS: dict[str, tuple[str, str, Callable[[str | None, str | None], System]]] = {
    "x264": ("live", "H.264 encoding with the x264 program", _live("x264")),
    "sqlite": ("live", "SQLite db_bench-like workloads under PRAGMA settings", _live("sqlite")),
    "sat": ("live", "CaDiCaL SAT solver on generated CNF instances (SPEAR's role), answers checked", _live("sat")),
    "gcc": ("live", "gcc optimisation flags on shipped C kernels (SaC's role), output checked", _live("compiler")),
    "dnn": ("live", "PyTorch MLP training on scikit-learn's digits (the dnn extra)", _live("dnn")),
    "flink": ("live", "Apache Flink streaming word count through PyFlink (Storm's role): throughput, latency", _live("flink")),
    "xz": ("live", "xz compression, declared as a command spec (the example of systems/xz.yaml)", _command("xz.yaml")),
    "synthetic": ("synthetic", "known performance-influence model over binary options", _live("synthetic")),
    "ase17-spear": ("replay", "ASE'17 SPEAR SAT solver across machines and versions", _ase17("ase17-spear")),
    "ase17-x264": ("replay", "ASE'17 x264 across machines, revisions and clip lengths", _ase17("ase17-x264")),
    "ase17-sqlite": ("replay", "ASE'17 SQLite compile-time options, db_bench operations as workloads", _ase17("ase17-sqlite")),
    "ase17-sac": ("replay", "ASE'17 SaC compiler (srad, particle_filter, kmeans, hotspot, nw)", _ase17("ase17-sac")),
    "ase17-sac-nbody": ("replay", "ASE'17 SaC compiler on n-body", _ase17("ase17-sac-nbody")),
    "causal-synthetic": ("synthetic", "known causal structure options -> events -> latency/energy", _live("causal_synthetic")),
    "storm": ("replay", "BO4CO Apache Storm topologies (throughput, latency)", _storm),
    "flexibo": ("replay", "FlexiBO Jetson TX2 DNN inference, hardware options (time, power)", _jetson("flexibo")),
    "deeparch": ("replay", "L2S DNN architecture space across machines and data sets (deeparch-xplorer)", _jetson("deeparch")),
    "unicorn": ("replay", "Unicorn Jetson TX2/Xavier hardware and kernel options (latency, energy)", _jetson("unicorn")),
}


def catalogue() -> list[tuple[str, str, str]]:
    return [(name, kind, description) for name, (kind, description, _) in SYSTEMS.items()]


def get_system(name: str, environment: str | None = None, workload: str | None = None) -> System:
    if name in SYSTEMS:
        return SYSTEMS[name][2](environment, workload)
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        from systems import command
        return command.load(name, environment)
    if Path(name).is_dir():
        from systems.replay import from_campaign
        return from_campaign(name)
    raise TradeoffError(f"unknown system {name!r}; run 'tradeoff systems' to list them, or give a campaign folder to replay")

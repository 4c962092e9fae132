"""Measured systems: live drivers, replays of published data, synthetic ground truths.

Each system is one spec, ``systems/<name>.yaml``, whose ``driver`` names the module that runs it;
``SYSTEMS`` lists them without importing any driver (``names``, ``summaries``, ``kind``, ``check``)
and ``get_system(name, environment, workload)`` builds one by name, from a command spec's .yaml
path, or from a campaign folder to replay (systems/catalogue.py).
"""

from systems.catalogue import SYSTEMS, get_system

__all__ = ["SYSTEMS", "get_system"]

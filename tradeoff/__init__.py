"""Tradeoff: learn how configuration drives performance.

The science, importable without Prefect or Ray, in wings by family: ``samplers`` (which
configurations to measure), ``models`` (performance models and their accuracy), ``transfer``
(what carries over between environments), ``causal`` (why a configuration is slow, and its fix),
``plots``; beside them the space of options (``space``), the measurement schema and its store
(``measurements``), the plugin contract every family shares (``registry``) and the one error
type users see (``errors.TradeoffError``).
"""

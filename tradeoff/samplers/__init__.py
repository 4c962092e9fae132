"""Samplers: which configurations to measure, one module per strategy.

A sampler is asked for configurations given the history of its campaign (the space, what is
stored so far, the metric, optional source measurements), as Optuna's samplers are given the
study: designs of experiments answer the same design every time, adaptive strategies (active
learning, later optimisers) choose each batch from the measurements before it, and L2S reads its
source from the same history, so the campaign flow runs one loop for all of them.
``base.py`` holds the contract and the registry ``SAMPLERS``; modules starting with ``_`` hold
code the members share.
"""

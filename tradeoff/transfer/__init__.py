"""Transfer across environments: reuse what was measured in one environment (the source) to learn
another (the target) from few measurements.

Three questions, one module each: ``compare`` — what carries over between two environments
(correlation, linear fit, influential options, noise, a verdict); ``bellwether`` — which of
several sources to transfer from; ``study`` — fit a transfer method and target-only on the target
sample and score both. The transfer methods themselves are a plugin family,
``tradeoff.transfer.methods`` (one module per method). Their pictures are in ``tradeoff.plots.transfer``.
"""

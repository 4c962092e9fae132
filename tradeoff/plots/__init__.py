"""Every picture Tradeoff draws, one module per subject (campaign, models, transfer, causal).

They write PNG files through matplotlib's Agg backend (no display needed) and return the path,
so flows can log them as artifacts. ``common`` holds the backend choice and the save step.
"""

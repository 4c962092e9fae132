"""The models wing: performance models learned from measured configurations, and how good they are.

``learners`` is the family of learners (one module each, scikit-learn estimators over the matrix
``Space.encode`` makes); ``accuracy`` measures them (MAPE, cross-validation, option influences);
``evaluation`` draws learning curves with the published protocol; ``persist`` saves a fitted
model with its space; ``summary`` is a campaign's first model. ``transfer`` reuses models of
other environments.
"""

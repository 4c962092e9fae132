"""The learners: one module per learner, each a scikit-learn estimator derived from ``base.Learner``.

``base.LEARNERS`` lists them without importing them and builds one by name (``make_learner``);
adding a learner is adding its module here.
"""

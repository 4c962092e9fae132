"""Transfer methods: accurate target models from few target measurements and a source environment.

One module per method (``linear_shift.py`` is the method ``linear-shift``); ``base.py`` holds their
contract (``TransferMethod``, a scikit-learn estimator over a fitted ``Source``), the registry
``METHODS`` and ``make_transfer``. The transfer study lists its methods from that registry.
"""

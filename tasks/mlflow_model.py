"""The code MLflow runs to load a Tradeoff model (MLflow's "models from code").

Logging the model as code rather than as a cloudpickled object means nothing of ours is
unpickled by MLflow; the one pickle, the model bundle, is checked against its SHA-256 first
(``tasks.tracking.PerformanceModel``). Loading needs Tradeoff installed, as any model of it does.
"""

import mlflow

from tasks.tracking import PerformanceModel

mlflow.models.set_model(PerformanceModel())

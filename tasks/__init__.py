"""Thin Prefect tasks with small, serialisable parameters, the settings objects they receive
(``tasks.settings``), the Ray worker pool that measures (``tasks.measure``) and MLflow tracking."""

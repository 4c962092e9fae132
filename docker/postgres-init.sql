-- MLflow's basic-auth user store, beside its tracking store (flows/stack.py makes the same two databases)
CREATE DATABASE mlflow_auth;

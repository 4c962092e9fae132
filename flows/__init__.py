"""Prefect flows (campaign, transfer, debug), the plain procedures of the commands that need no flow,
and the thin ``tradeoff`` command line (``flows.cli``) in front of them."""

"""Live SQLite: one db_bench-like workload under one set of PRAGMAs, in a fresh process."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import tempfile
from pathlib import Path

from systems.base import System, run_process
from tradeoff.errors import TradeoffError

WORKLOAD = re.compile(r"^([a-z]+)-(\d+)$")
RUNNER = Path(__file__).with_name("sqlite_workload.py")  # stdlib only, so the measured process starts fast


class SQLite(System):
    def check_workload(self, workload: str) -> str:
        match = WORKLOAD.match(workload)
        if not match or match.group(1) not in self.spec["operations"] or int(match.group(2)) < 1:
            raise TradeoffError(f"sqlite workload {workload!r} is not OPERATION-ROWS; operations: {', '.join(self.spec['operations'])} (e.g. fillrandom-1000)")
        return workload

    def program_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="tradeoff-sqlite-") as work:
            result = run_process([sys.executable, str(RUNNER), workload, json.dumps(config), work], timeout, cpus)
            metrics = result.metrics("the workload")
        metrics["time"] = result.wall_s
        return metrics


"""Live SAT solving with CaDiCaL: solve one instance under one configuration, check the answer."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from systems import cnf
from systems.base import MeasurementFailed, System, cache_dir, render_flags, run_process
from tradeoff.errors import TradeoffError

STATUS = re.compile(r"^s (SATISFIABLE|UNSATISFIABLE|UNKNOWN)", re.MULTILINE)
COUNTER = re.compile(r"^c (conflicts|decisions):\s+(\d+)", re.MULTILINE)
SAT_EXIT, UNSAT_EXIT = 10, 20  # the SAT competition's exit codes


def sat_cache() -> Path:
    return cache_dir("sat")


class SatSolver(System):
    def check(self) -> None:
        if shutil.which("cadical") is None:
            raise TradeoffError("the cadical program is not installed; install it (e.g. 'apt-get install cadical')")

    def check_workload(self, workload: str) -> str:
        if workload.endswith(".cnf"):
            if not Path(workload).is_file():
                raise TradeoffError(f"workload file {workload} does not exist; give a readable DIMACS .cnf file")
            return str(Path(workload).resolve())
        cnf.generate(workload)  # raises a TradeoffError naming the workload forms
        return workload

    def program_version(self) -> str:
        try:
            return "cadical " + subprocess.run(["cadical", "--version"], capture_output=True, text=True).stdout.strip()
        except OSError:
            return "unknown"

    def run(self, config: dict, workload: str, timeout: float, cpus: list[int]) -> dict[str, float]:
        path, known = cnf.instance(workload, sat_cache())
        result = run_process(["cadical", *render_flags(self.space, config), str(path)], timeout, cpus,
                             ok_codes=(SAT_EXIT, UNSAT_EXIT))
        status = STATUS.search(result.stdout)
        if status is None or status.group(1) == "UNKNOWN":
            raise MeasurementFailed("cadical gave no answer: " + result.stdout.strip()[-300:])
        answer = "SAT" if status.group(1) == "SATISFIABLE" else "UNSAT"
        if known and answer != known:
            raise MeasurementFailed(f"wrong answer: cadical says {answer}, the instance is {known}")
        if answer == "SAT":
            model = {int(t) for line in result.stdout.splitlines() if line.startswith("v ") for t in line[2:].split()}
            clause = cnf.unsatisfied_clause(cnf.read_dimacs(path), model)
            if clause is not None:
                raise MeasurementFailed(f"wrong answer: cadical's witness leaves clause {clause} false")
        counters = dict(COUNTER.findall(result.stdout))
        return {"time": result.wall_s, "cpu_time": result.cpu_s, "conflicts": float(counters.get("conflicts", "nan")),
                "decisions": float(counters.get("decisions", "nan"))}


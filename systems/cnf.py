"""SAT instances that the project generates deterministically, and checks of a solver's answer.

Workload names: ``rand3-N-SEED`` (random 3-SAT, N variables, 4.26 N clauses: the phase
transition), ``php-H`` (H+1 pigeons into H holes: unsatisfiable), ``color-V-K-SEED`` (a graph of V
vertices with a planted K-colouring, 2.3 V edges for K=3 — satisfiable by construction). A random
instance's answer is found once by a reference solver of python-sat (MiniSat 2.2, not the solver
under test) and cached beside the instance.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

from tradeoff.errors import TradeoffError

NAMES = re.compile(r"^(?:rand3-(\d+)-(\d+)|php-(\d+)|color-(\d+)-(\d+)-(\d+))$")
PHASE_TRANSITION = 4.26  # clauses per variable where random 3-SAT is hardest
EDGES_PER_VERTEX = {3: 2.3, 4: 4.3, 5: 7.0}  # near each K's colourability threshold


def random_3sat(variables: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[v if rng.random() < 0.5 else -v for v in rng.sample(range(1, variables + 1), 3)]
            for _ in range(round(PHASE_TRANSITION * variables))]


def pigeonhole(holes: int) -> list[list[int]]:
    """holes + 1 pigeons, each in some hole, no two in one hole: unsatisfiable."""
    var = lambda pigeon, hole: pigeon * holes + hole + 1
    clauses = [[var(p, h) for h in range(holes)] for p in range(holes + 1)]
    clauses += [[-var(a, h), -var(b, h)] for h in range(holes) for a in range(holes + 1) for b in range(a + 1, holes + 1)]
    return clauses


def planted_colouring(vertices: int, colours: int, seed: int) -> list[list[int]]:
    """K-colouring of a random graph whose edges only join differently coloured vertices."""
    rng = random.Random(seed)
    colour = [rng.randrange(colours) for _ in range(vertices)]
    edges: set[tuple[int, int]] = set()
    wanted = round(EDGES_PER_VERTEX.get(colours, 2.3) * vertices)
    while len(edges) < wanted:
        a, b = rng.sample(range(vertices), 2)
        if colour[a] != colour[b]:
            edges.add((min(a, b), max(a, b)))
    var = lambda v, c: v * colours + c + 1
    clauses = [[var(v, c) for c in range(colours)] for v in range(vertices)]
    clauses += [[-var(v, c), -var(v, d)] for v in range(vertices) for c in range(colours) for d in range(c + 1, colours)]
    clauses += [[-var(a, c), -var(b, c)] for a, b in sorted(edges) for c in range(colours)]
    return clauses


def generate(name: str) -> tuple[list[list[int]], str | None]:
    """The clauses of a named instance and its answer when known by construction."""
    match = NAMES.match(name)
    if not match:
        raise TradeoffError(f"SAT workload {name!r} is not rand3-N-SEED, php-H, color-V-K-SEED or a .cnf file (e.g. rand3-150-1, php-8)")
    rand_n, rand_seed, holes, vertices, colours, colour_seed = match.groups()
    if rand_n:
        return random_3sat(int(rand_n), int(rand_seed)), None
    if holes:
        return pigeonhole(int(holes)), "UNSAT"
    return planted_colouring(int(vertices), int(colours), int(colour_seed)), "SAT"


def write_dimacs(path: Path, clauses: list[list[int]]) -> None:
    variables = max(abs(lit) for clause in clauses for lit in clause)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"p cnf {variables} {len(clauses)}\n" + "".join(" ".join(map(str, c)) + " 0\n" for c in clauses))
    os.replace(tmp, path)


def read_dimacs(path: Path) -> list[list[int]]:
    clauses, current = [], []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line[0] in "cp%":
            continue
        for token in line.split():
            if token == "0":
                clauses.append(current)
                current = []
            else:
                current.append(int(token))
    return clauses


def reference_answer(clauses: list[list[int]]) -> str:
    from pysat.solvers import Solver  # MiniSat 2.2 inside python-sat: independent of the solver measured
    with Solver(name="minisat22", bootstrap_with=clauses) as solver:
        return "SAT" if solver.solve() else "UNSAT"


def instance(name: str, cache: Path) -> tuple[Path, str | None]:
    """The instance file of a workload and its known answer (None: not known, a user's file)."""
    if name.endswith(".cnf"):
        return Path(name), None
    cache.mkdir(parents=True, exist_ok=True)
    path, answer_file = cache / f"{name}.cnf", cache / f"{name}.answer"
    if not path.exists() or not answer_file.exists():
        clauses, answer = generate(name)
        answer = answer or reference_answer(clauses)
        write_dimacs(path, clauses)
        answer_file.write_text(answer)
    return path, answer_file.read_text().strip()


def unsatisfied_clause(clauses: list[list[int]], model: set[int]) -> list[int] | None:
    """The first clause the assignment leaves false, or None when it satisfies all of them."""
    for clause in clauses:
        if not any(lit in model for lit in clause):
            return clause
    return None


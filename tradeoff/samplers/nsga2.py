"""NSGA-II (Deb et al., IEEE TEC'02) through pymoo: the evolutionary peer of the multi-objective methods.

pymoo's NSGA-II runs on the encoded options (``_optimise.features``, in [0, 1]); every
individual it asks for is snapped to the nearest candidate configuration (every one of a finite
space, else a pool fixed by the seed) that the run has not used yet, and the algorithm is told
the snapped configuration's measured objectives (output constraints as pymoo's inequality
constraints, a failed configuration as the worst of every objective). Like every optimiser here
it keeps no state: each ask replays the algorithm from its seed over the stored measurements,
generation by generation, and returns the stored configurations plus the first generation that
needs a measurement. A population is the initial design's size (one more than the options).
"""

from __future__ import annotations

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.problem import Problem
from pymoo.problems.static import StaticProblem

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, aggregate
from tradeoff.optimum import minimised, parse_bound
from tradeoff.samplers._optimise import candidates, features, initial_size
from tradeoff.samplers.active import stored_configurations
from tradeoff.samplers.base import History, Sampler
from tradeoff.space import config_id

GENERATIONS = 10_000  # a bound pymoo needs; the budget stops the replay long before


class NSGA2Sampler(Sampler):
    adaptive = True

    def ask(self, history: History, budget: int) -> list[dict]:
        goals = history.goals()
        if not goals:
            raise TradeoffError("the nsga2 optimiser needs the metrics to optimise; give --objective")
        space = history.space
        stored = stored_configurations(history.measurements, space)
        table = aggregate(history.measurements).set_index("config_id") if len(stored) else None
        pool = candidates(space, set(), self.seed)
        encoded = features(space, space.to_frame(pool))
        low, high = encoded.min(axis=0), encoded.max(axis=0)
        bounds = [parse_bound(text) for text in history.constraints]
        problem = Problem(n_var=encoded.shape[1], n_obj=len(goals), n_ieq_constr=len(bounds), xl=low, xu=np.where(high > low, high, low + 1))
        algorithm = NSGA2(pop_size=initial_size(space))
        algorithm.setup(problem, termination=("n_gen", GENERATIONS), seed=self.seed)
        taken = np.zeros(len(pool), dtype=bool)
        used = 0
        while used < budget:
            population = algorithm.ask()
            picks = []
            for x in population.get("X"):
                distance = np.abs(encoded - x).sum(axis=1)
                distance[taken] = np.inf
                if np.isinf(distance).all():
                    break
                picks.append(int(np.argmin(distance)))
                taken[picks[-1]] = True
            picks = picks[:budget - used]
            ids = [config_id(pool[i]) for i in picks]
            unknown = [i for i, key in zip(picks, ids) if table is None or key not in table.index]
            if unknown or not picks:
                return stored + [pool[i] for i in unknown]
            used += len(picks)
            rows = table.loc[ids]
            ok = (rows["status"] == "ok").to_numpy()
            F = minimised(rows, goals)
            F[~ok | np.isnan(F).any(axis=1)] = 1e300  # a failed configuration: the worst of every objective
            G = np.column_stack([-np.nan_to_num(b.slack(rows[METRIC_PREFIX + b.metric].to_numpy(float)), nan=-1e300) for b in bounds]) \
                if bounds else None
            population = population[:len(picks)]
            population.set("X", encoded[picks])
            Evaluator().eval(StaticProblem(problem, F=F, **({"G": G} if bounds else {})), population)
            algorithm.tell(infills=population)
        return stored

"""FlexiBO's decoupled choice: measure a cheap objective alone first where what it may show is worth its cost.

FlexiBO (Iqbal, Su, Kotthoff, Jamshidi, JAIR'23) optimises a DNN's accuracy against its latency or
energy, whose costs differ by orders of magnitude: accuracy needs training, latency only inference.
Where the system measures some metrics alone for less (its spec's ``separately``, e.g. dnn's
inference time on the untrained network), this optimiser chooses a configuration *and* what to
measure of it: the declared part (answered as a ``Part``) or the full measurement.

The configuration is ``parego``'s choice, on models that use every row: each objective has a GP of
its own (``bo``'s fit) on every row that measured it, partial rows included, and a configuration
measured in part enters the candidates with that objective known exactly. ParEGO's random
Chebyshev weight and Monte-Carlo expected improvement (EI) pick the configuration. What to measure
of it is a one-step comparison of gain per cost: the full measurement yields its EI for a cost of
1; measuring the part first (cost c) and then, given what it showed, fully measuring whichever is
better of it and the runner-up yields the mean over the part's predicted outcomes of max(EI after
the part, the runner-up's EI), for a cost of 1 + c. The part goes first where that rate is higher:
where the cheap objective is uncertain enough that seeing it may change which configuration is
worth training. The weights are seeded by the number of fully measured configurations, so the
ask after a part judges the screened configuration by the same weights, with what the part showed.
After a part the next measurement is a full one (of the screened configuration, or of whichever
the weights now prefer): left free, the comparison screened one near-tie after another (the best
of many similar candidates is the most over-predicted, so what its part shows mostly demotes it),
spending 23 parts per run for a mean error of 0.155 at 50 against 0.088 with one part per full
measurement (tuning seeds 0-9, bench/RESULTS.md).

A region-shrink criterion (the hypervolume between the optimistic and pessimistic fronts of
``mean +- 2 sd`` boxes, FlexiBO's Pareto region, its shrink per cost) was tried first and lost to
cost-blind parego on the benchmark table even when nothing was measured in part (see
bench/RESULTS.md, "Objectives measured separately").

A configuration is done once every objective is measured; the front and the best are of done
configurations only (``flows/optimize``). The budget is in full measurements: ``--budget 30``
spends at most the cost of 30 full measurements, a part its declared share, and a part is
measured only where the full measurement after it still fits. The initial design is ``parego``'s
maximin Latin hypercube, fully measured, so both start alike. A batch for several workers takes
each pick's predictions as if measured before the next (the Kriging believer). Two objectives, no
output constraints (``parego`` takes them).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tradeoff.errors import TradeoffError
from tradeoff.measurements import METRIC_PREFIX, aggregate, options_of, part_label, part_metrics
from tradeoff.samplers._optimise import candidates, features, initial_design
from tradeoff.samplers._pareto import as_costs
from tradeoff.samplers.base import History, Part, Sampler
from tradeoff.samplers.bo import fit_gp
from tradeoff.samplers.parego import DRAWS, chebyshev
from tradeoff.space import config_id

SCREENS = 32  # draws of a part's metrics when weighing whether to measure them first

log = logging.getLogger(__name__)


class FlexiBO(Sampler):
    adaptive = True
    name = "flexibo"

    def ask(self, history: History, budget: int) -> list[dict | Part]:
        goals = history.goals()
        if len(goals) != 2:
            raise TradeoffError(f"flexibo chooses for two objectives, not {len(goals)}; give two --objective, or --method parego")
        if history.constraints:
            raise TradeoffError("flexibo takes no output constraints; give --method parego for a constrained front")
        space, frame = history.space, history.measurements
        metrics = [m for m, _ in goals]
        ways = [((), 1.0)] + [(tuple(p), float(c)) for p, c in history.separately if set(p) & set(metrics)]
        cost_of = {part_label(p): c for p, c in ways}
        units = _stored_units(frame, space)
        stored = [config if not only else Part(config, only) for config, only, _ in units]
        spent = sum(cost_of.get(part_label(only), 1.0) for _, only, _ in units)
        full = {config_id(c) for c, only, _ in units if not only}
        design = [c for c in initial_design(space, self.seed) if config_id(c) not in full]
        left = budget - spent
        if design:
            chosen = design[:int(np.floor(left + 1e-9))]
            log.info("%s: %d measurements stored (cost %.3g of %d), %d of the initial design to measure", self.name,
                     len(units), spent, budget, len(chosen))
            return stored + chosen
        table = aggregate(frame)
        failed = set(frame.loc[frame["status"] != "ok", "config_id"])  # a failed part too: never asked again
        ok = table[(table["status"] == "ok")]
        known = ok[[METRIC_PREFIX + m for m in metrics]].notna().to_numpy()
        done = set(ok.loc[known.all(axis=1), "config_id"]) | failed | full
        partial = ok[~known.all(axis=1) & ~ok["config_id"].isin(done)]
        pool = space.to_frame(options_of(partial, space.names).to_dict("records")).to_dict("records")
        seen = {config_id(c) for c in pool}
        pool += [c for c in candidates(space, done | seen, self.seed + len(units))]
        if units and units[-1][1]:  # one part before each full measurement: see the module's docstring
            ways = ways[:1]
        affordable = [(only, cost) for only, cost in ways if cost <= left + 1e-9]
        if not pool or not affordable or known.all(axis=1).sum() < 2:
            log.info("%s: %d measurements stored (cost %.3g of %d), %d candidates: stopping", self.name, len(units), spent,
                     budget, len(pool))
            return stored
        picks = self.choose(history, ok, known, pool, affordable, left)
        log.info("%s: cost %.3g of %d spent, %d done, a batch of %s", self.name, spent, budget, int(known.all(axis=1).sum()),
                 ", ".join(f"{'+'.join(only) or 'all'}" for _, only in picks))
        return stored + [pool[i] if not only else Part(pool[i], only) for i, only in picks]

    def choose(self, history: History, ok: pd.DataFrame, known: np.ndarray, pool: list[dict],
               ways: list[tuple[tuple[str, ...], float]], left: float) -> list[tuple[int, tuple[str, ...]]]:
        """(index into ``pool``, the metrics to measure; (): all) of the next batch, within ``left`` of the budget."""
        space, goals = history.space, history.goals()
        X = features(space, options_of(ok, space.names))
        pool_X = features(space, space.to_frame(pool))
        pool_ids = [config_id(c) for c in pool]
        mean, sd = np.zeros((len(pool), 2)), np.zeros((len(pool), 2))
        points = np.zeros((len(ok), 2))
        with threadpool_limits(1, "blas"):  # small matrices: one thread wins (see bo)
            for j, (metric, goal) in enumerate(goals):
                has = known[:, j]
                costs = as_costs(ok[METRIC_PREFIX + metric].to_numpy(float)[has], goal)
                m, v = _fitted(X[has], costs).predict(pool_X, include_likelihood=False)
                mean[:, j], sd[:, j] = m[:, 0], np.sqrt(np.clip(v[:, 0], 0, None))
                measured = dict(zip(ok["config_id"][has], costs))
                for i, cid in enumerate(pool_ids):  # a configuration measured in part: that objective is no prediction
                    if cid in measured:
                        mean[i, j], sd[i, j] = measured[cid], 0.0
                points[has, j] = costs
        points = points[known.all(axis=1)]
        # Seeded by the full measurements only: after a part is measured the next ask draws the same
        # weights, so the configuration screened for them is judged again by them, with what the part showed.
        rng = np.random.default_rng([self.seed, len(points)])
        noise = rng.standard_normal((DRAWS, 1, 2))
        cost_of = dict(ways)
        picks: list[tuple[int, tuple[str, ...]]] = []
        for _ in range(max(1, history.workers)):
            weights = rng.dirichlet(np.ones(2))
            incumbent = chebyshev(points, weights).min()
            gain = np.maximum(incumbent - chebyshev(mean + sd * noise, weights), 0).mean(axis=0)
            if not np.any(gain > 0):  # no expected gain anywhere: the best predicted scalarisation
                gain = -chebyshev(mean, weights) - 1e9
            gain[[i for i, _ in picks]] = -np.inf
            order = np.argsort(-gain)
            best, runner_up = int(order[0]), gain[order[1]] if len(order) > 1 else 0.0
            if not np.isfinite(gain[best]):
                break
            way = self.way(best, mean, sd, noise, weights, incumbent, max(runner_up, 0.0), gain[best], goals, ways, left)
            if way is None:
                break
            picks.append((best, way))
            reveals = np.array([not way or metric in way for metric, _ in goals])
            if reveals.all():  # the believer: a full pick's predicted objectives as if measured
                points = np.vstack([points, mean[best]])
            sd[best, reveals] = 0.0
            left -= cost_of[way]
        return picks

    def way(self, index: int, mean: np.ndarray, sd: np.ndarray, noise: np.ndarray, weights: np.ndarray, incumbent: float,
            runner_up: float, gain: float, goals, ways, left: float) -> tuple[str, ...] | None:
        """What to measure of the chosen configuration: all (()) or a part first; None: a full measurement
        no longer fits the budget (a part alone completes no configuration)."""
        if left < 1.0 - 1e-9:
            return None
        best, best_rate = (), gain
        draws = np.random.default_rng(index).standard_normal((SCREENS, 2))
        for only, cost in ways:
            reveals = np.array([metric in only for metric, _ in goals])
            if not only or cost + 1.0 > left + 1e-9 or not (sd[index, reveals] > 0).any():
                continue
            # The part first, then the full measurement of whichever is better given what it showed: this
            # configuration or the runner-up. Worth it where that gain per its cost (1 + the part's) is higher.
            seen = mean[index] + np.where(reveals, sd[index] * draws, 0.0)  # SCREENS outcomes of the part
            rest = np.where(reveals, 0.0, sd[index])
            after = np.maximum(incumbent - chebyshev(seen[:, None, :] + rest * noise[None, :, 0, :], weights), 0).mean(axis=1)
            rate = np.mean(np.maximum(after, runner_up)) / (1.0 + cost)
            if rate > best_rate:
                best, best_rate = only, rate
        return best


_fits: dict[bytes, object] = {}  # the last fits by their data: a part leaves the other objective's rows as they were


def _fitted(X: np.ndarray, y: np.ndarray):
    """``bo.fit_gp`` of these rows, refitted only when they changed (an ask after a part refits one model of two)."""
    key = X.tobytes() + y.tobytes() + bytes(str(X.shape), "ascii")
    if key not in _fits:
        if len(_fits) >= 8:
            _fits.pop(next(iter(_fits)))
        _fits[key] = fit_gp(X, y)
    return _fits[key]


def _stored_units(frame: pd.DataFrame, space) -> list[tuple[dict, tuple[str, ...], str]]:
    """Each stored (configuration, metrics measured; (): all) once, in the order first stored, with its config_id."""
    if frame.empty:
        return []
    if "started_at" in frame.columns:
        frame = frame.sort_values("started_at", kind="stable")
    measured = frame["measured"] if "measured" in frame.columns else pd.Series(None, index=frame.index)
    keys = pd.DataFrame({"config_id": frame["config_id"], "part": measured.map(lambda label: part_label(part_metrics(label)) or "")})
    first = ~keys.duplicated()
    rows = frame[first.to_numpy()]
    configs = space.to_frame(options_of(rows, space.names).to_dict("records")).to_dict("records")
    return [(config, part_metrics(part or None), cid) for config, part, cid in zip(configs, keys["part"][first], rows["config_id"])]

"""SPL Conqueror's performance-influence model (stepwise selection of interactions up to degree 3).

A linear model over options and their interactions, chosen by stepwise forward selection,
optionally pruned by backward elimination.

The model reads like ``1.2 + 3·o1 + 5·o3 + 0.8·o3·o7``. Forward selection starts from the
constant and, each round, adds the candidate term that lowers the training error most. The
candidates are every single feature and every product of a term already in the model with one
more feature, up to ``max_degree`` features: an interaction is only tried once one of its parts
has proven influential (SPL Conqueror's hierarchy heuristic), which keeps the search small.
Selection stops when a round improves the error by less than ``min_improvement``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from tradeoff.models.learners.base import Learner

Term = tuple[int, ...]  # indices of the features multiplied together; () is the constant


class InfluenceModel(Learner):
    """Stepwise linear regression over option interactions (scikit-learn estimator).

    max_degree: the most features in one term (3: three-way interactions).
    max_terms: the most terms besides the constant (also at most a third of the sample size,
        so that a small sample is not fitted exactly by noise terms).
    min_improvement: stop when a round lowers the error by less than this (relative error in
        percentage points when no target is 0, else a share of the target's standard deviation).
    backward: after forward selection, drop every term whose removal costs less than min_improvement.
    """

    _selects_by_relative_error = True

    def __init__(self, max_degree: int = 3, max_terms: int = 30, min_improvement: float = 0.1, backward: bool = True):
        self.max_degree = max_degree
        self.max_terms = max_terms
        self.min_improvement = min_improvement
        self.backward = backward

    def _fit(self, X, y):
        relative = bool(np.all(y != 0))
        scale = 1.0 if relative else (float(np.std(y)) or 1.0)
        limit = max(1, min(self.max_terms, len(y) // 3))
        terms: list[Term] = []
        error, coefficients = self._fit_terms(X, y, terms, relative, scale)
        while len(terms) < limit:
            best = None
            for candidate in self._candidates(terms):
                candidate_error, candidate_coefficients = self._fit_terms(X, y, terms + [candidate], relative, scale)
                if best is None or candidate_error < best[0]:
                    best = (candidate_error, candidate, candidate_coefficients)
            if best is None or error - best[0] < self.min_improvement:
                break
            error, coefficients = best[0], best[2]
            terms.append(best[1])
        if self.backward:
            terms, coefficients = self._eliminate(X, y, terms, error, relative, scale)
        order = sorted(range(len(terms)), key=lambda i: (len(terms[i]), terms[i]))  # constant, options, pairs, triples
        self.terms_ = [()] + [terms[i] for i in order]
        self.coef_ = np.asarray([coefficients[0]] + [coefficients[i + 1] for i in order])
        return self

    def _predict(self, X):
        return _design(X, self.terms_) @ self.coef_

    def terms(self, feature_names: list[str] | None = None) -> pd.Series:
        """The coefficient of each term, named like ``o3·o7`` (the constant is ``1``)."""
        check_is_fitted(self, "terms_")
        names = feature_names or [f"x{i}" for i in range(self.n_features_in_)]
        return pd.Series(self.coef_, index=["·".join(names[i] for i in term) or "1" for term in self.terms_])

    def to_string(self, feature_names: list[str] | None = None, digits: int = 3) -> str:
        """The model as readable terms, e.g. ``1.2 + 3·o1 + 0.8·o3·o7``."""
        text = ""
        for name, value in self.terms(feature_names).items():
            number = f"{abs(value):.{digits}g}"
            part = number if name == "1" else f"{number}·{name}"
            text += (part if value >= 0 else f"-{part}") if not text else (f" + {part}" if value >= 0 else f" - {part}")
        return text

    def influences(self, feature_names: list[str]) -> pd.Series:
        """Each feature's share of the model's effect: a term's mean absolute contribution on the
        training range (|coefficient|, features being 0/1 or scaled to [0, 1]), split evenly among
        the features it multiplies."""
        check_is_fitted(self, "terms_")
        share = pd.Series(0.0, index=feature_names)
        for term, value in zip(self.terms_, self.coef_):
            for i in term:
                share.iloc[i] += abs(value) / len(term)
        return share

    def _candidates(self, terms: list[Term]) -> list[Term]:
        chosen = set(terms)
        candidates = {(i,) for i in range(self.n_features_in_)}
        for term in terms:
            if len(term) < self.max_degree:
                candidates |= {tuple(sorted(term + (i,))) for i in range(self.n_features_in_) if i not in term}
        return sorted(candidates - chosen)

    @staticmethod
    def _fit_terms(X, y, terms, relative, scale):
        design = _design(X, [()] + terms)
        coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
        return _error(y, design @ coefficients, relative, scale), coefficients

    def _eliminate(self, X, y, terms, error, relative, scale):
        while terms:
            trials = [(self._fit_terms(X, y, terms[:i] + terms[i + 1:], relative, scale), i) for i in range(len(terms))]
            (best_error, _), index = min(trials, key=lambda trial: trial[0][0])
            if best_error - error >= self.min_improvement:
                break
            terms = terms[:index] + terms[index + 1:]
        return terms, self._fit_terms(X, y, terms, relative, scale)[1]


def _design(X: np.ndarray, terms: list[Term]) -> np.ndarray:
    return np.column_stack([np.prod(X[:, list(term)], axis=1) if term else np.ones(len(X)) for term in terms])


def _error(y: np.ndarray, predicted: np.ndarray, relative: bool, scale: float) -> float:
    if relative:
        return float(np.mean(np.abs(y - predicted) / np.abs(y)) * 100)
    return float(np.sqrt(np.mean((y - predicted) ** 2)) / scale * 100)


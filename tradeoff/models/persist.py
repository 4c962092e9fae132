"""Saving a fitted model with what is needed to use it again: its space, metric and learner.

A model is a joblib pickle, and unpickling runs whatever the file says: model folders are
trusted input. ``save_model`` writes the file's SHA-256 beside it (``model.joblib.sha256``) and
``load_model`` refuses a file that does not match it before unpickling, so a model replaced or
corrupted after ``tradeoff learn`` wrote it is never run. The digest guards the file, not the
folder: whoever can write both can forge both, so load models only from folders you trust.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from tradeoff.errors import TradeoffError
from tradeoff.measurements import OPTION_PREFIX
from tradeoff.space import Space

MODEL_FILE = "model.joblib"
DIGEST_SUFFIX = ".sha256"


def file_digest(path: Path) -> str:
    """The SHA-256 a bundle is checked against before it is unpickled."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(folder: str | Path, model, space: Space, metric: str, learner: str) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    joblib.dump({"model": model, "options": space.options, "constraints": [c.text for c in space.constraints],
                 "metric": metric, "learner": learner}, path, compress=3)  # a transfer model holds its source: 5x smaller
    path.with_name(path.name + DIGEST_SUFFIX).write_text(file_digest(path) + "\n")
    return path


def _check_digest(path: Path) -> None:
    """Refuse, before unpickling, a model file without its digest or one that does not match it."""
    digest = path.with_name(path.name + DIGEST_SUFFIX)
    if not path.is_file():
        return  # joblib.load names the missing file
    if not digest.is_file():
        raise TradeoffError(f"{path} has no digest {digest.name}, so it cannot be checked before it is loaded "
                            "(loading runs code); refit it with 'tradeoff learn'")
    if digest.read_text().strip() != file_digest(path):
        raise TradeoffError(f"{path} does not match its digest {digest.name}: it changed after 'tradeoff learn' "
                            "wrote it; refit it rather than load it (loading runs code)")


def load_model(path: str | Path) -> dict:
    """The saved bundle (model, space, metric, learner); ``path`` is the file or its folder."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    elif path.is_file() and path.name != MODEL_FILE:
        raise TradeoffError(f"{path} is not a model folder; give a folder written by 'tradeoff learn --out' (it holds {MODEL_FILE})")
    _check_digest(path)
    try:
        bundle = joblib.load(path)
        bundle["space"] = Space(bundle.pop("options"), bundle.pop("constraints"))
    except (OSError, EOFError, KeyError, TypeError, ValueError, IndexError, pickle.UnpicklingError) as error:
        raise TradeoffError(f"cannot load a model from {path} ({error}); give a folder written by 'tradeoff learn --out'".splitlines()[0]) from None
    except (ImportError, AttributeError) as error:  # pickled by a version whose classes lived elsewhere
        raise TradeoffError(f"the model in {path} was saved by another version of tradeoff ({error}); refit it with 'tradeoff learn'".splitlines()[0]) from None
    return bundle


def predict_table(bundle: dict, configs: pd.DataFrame) -> pd.DataFrame:
    """``configs`` (one column per option, ``opt.`` prefix allowed, missing options at their
    default) with the predicted metric, and its standard deviation where the model gives one."""
    space, metric = bundle["space"], bundle["metric"]
    frame = configs.rename(columns=lambda c: str(c).removeprefix(OPTION_PREFIX))
    unknown = [c for c in frame.columns if c not in space.names]
    if unknown:
        raise TradeoffError(f"column {unknown[0]!r} is no option of the model; its options: {', '.join(space.names)}")
    rows = [{name: value for name, value in row.items() if not pd.isna(value)} for row in frame.to_dict("records")]
    valid = space.to_frame(space.validate(row, fill_defaults=True) for row in rows)
    X = space.encode(valid)
    result = valid.copy()
    try:
        mean, std = bundle["model"].predict(X, return_std=True)
        result[f"predicted.{metric}"], result[f"std.{metric}"] = mean, std
    except TypeError:  # the model gives no uncertainty
        result[f"predicted.{metric}"] = np.asarray(bundle["model"].predict(X), float)
    return result

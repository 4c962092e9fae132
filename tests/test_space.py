import numpy as np
import pandas as pd
import pytest

from tradeoff.errors import TradeoffError
from tradeoff.space import Space, config_id, infer_options, load_configurations

SPEC = {
    "options": [
        {"name": "bframes", "type": "int", "range": [0, 16], "default": 3},
        {"name": "no-weightb", "type": "bool"},
        {"name": "me", "type": "categorical", "values": ["dia", "hex", "umh"], "default": "hex"},
        {"name": "crf", "type": "float", "range": [1, 51], "default": 23},
        {"name": "cache", "type": "int", "range": [16, 65536], "default": 2000, "log": True},
    ],
    "constraints": ["bframes == 0 -> no-weightb", "me != 'dia' or crf > 10", "bframes >= 12 -> crf <= 30"],
}


@pytest.fixture()
def space() -> Space:
    return Space.from_spec(SPEC)


def test_validate_coerces_values_to_option_types(space):
    config = space.validate({"bframes": "4", "no-weightb": 1, "me": "umh", "crf": "20.5", "cache": 64.0})
    assert config == {"bframes": 4, "no-weightb": True, "me": "umh", "crf": 20.5, "cache": 64}


@pytest.mark.parametrize("config, message", [
    ({"foo": 1}, "unknown option 'foo'; known options: bframes"),
    ({"bframes": 99}, "option 'bframes': value 99 is not allowed; expected an integer in [0, 16]"),
    ({"me": "esa"}, "option 'me': value 'esa' is not allowed; expected one of dia, hex, umh"),
    ({"bframes": 2.5}, "expected an integer"),
    ({"bframes": 0, "no-weightb": False}, "violates constraint 'bframes == 0 -> no-weightb' (bframes=0, no-weightb=False)"),
    ({"me": "dia", "crf": 5}, "violates constraint 'me != 'dia' or crf > 10'"),
    ({"bframes": 12, "crf": 30.5}, "violates constraint 'bframes >= 12 -> crf <= 30'"),
])
def test_validation_names_option_value_and_what_is_allowed(space, config, message):
    with pytest.raises(TradeoffError, match=None) as error:
        space.validate(config, fill_defaults=True)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_boundary_values_of_constraints_are_valid(space):
    assert space.is_valid({**space.default(), "bframes": 12, "crf": 30})
    assert space.is_valid({**space.default(), "me": "dia", "crf": 10.5})


def test_uniform_samples_respect_constraints_and_seed(space):
    first = space.sample_uniform(500, seed=3)
    assert all(space.is_valid(c) for c in first)
    assert first == space.sample_uniform(500, seed=3)
    assert first != space.sample_uniform(500, seed=4)
    # the constrained regions really are reached at their edges
    assert any(c["bframes"] == 0 for c in first) and any(c["me"] == "dia" for c in first)


def test_unknown_option_type_and_bad_constraint_are_reported():
    with pytest.raises(TradeoffError, match="unknown type 'number'"):
        Space.from_spec({"options": [{"name": "a", "type": "number"}]})
    with pytest.raises(TradeoffError, match="left side of each comparison must be an option"):
        Space.from_spec({"options": [{"name": "a", "type": "int", "range": [0, 3]}], "constraints": ["b > 1"]})


def test_encoding_is_numeric_and_scaled(space):
    configs = [space.default(), {**space.default(), "me": "dia", "crf": 51, "cache": 65536, "bframes": 16}]
    X = space.encode(configs)
    names = space.feature_names()
    assert names == ["bframes", "no-weightb", "me=dia", "me=hex", "me=umh", "crf", "cache"]
    assert X.shape == (2, len(names))
    assert X[1, names.index("me=dia")] == 1 and X[1, names.index("me=hex")] == 0
    assert X[1, names.index("crf")] == 1.0 and X[1, names.index("bframes")] == 1.0
    # log-scaled option: 2000 sits where log(2000) sits between log(16) and log(65536)
    expected = (np.log(2000) - np.log(16)) / (np.log(65536) - np.log(16))
    assert X[0, names.index("cache")] == pytest.approx(expected)


def test_config_id_is_stable_across_types():
    assert config_id({"a": True, "b": 3}) == config_id({"b": np.int64(3), "a": np.bool_(True)})
    assert config_id({"a": 1.0}) == config_id({"a": 1})
    assert config_id({"a": True}) != config_id({"a": False})


def test_enumerate_lists_only_valid_configurations():
    space = Space.from_spec({"options": [{"name": "x", "type": "bool"}, {"name": "y", "type": "int", "range": [0, 2]}],
                             "constraints": ["x -> y > 0"]})
    assert len(space.enumerate()) == 5


def test_infer_options_types_columns():
    frame = pd.DataFrame({"flag": [0, 1, 1], "n": [1, 5, 3], "f": [0.5, 1.5, 2.0], "c": ["a", "b", "a"]})
    kinds = {o.name: (o.type, o.lower, o.upper, o.values) for o in infer_options(frame)}
    assert kinds == {"flag": ("bool", None, None, ()), "n": ("int", 1, 5, ()), "f": ("float", 0.5, 2.0, ()),
                     "c": ("categorical", None, None, ("a", "b"))}


def test_load_configurations_fills_defaults_and_validates(space, tmp_path):
    path = tmp_path / "configs.yaml"
    path.write_text("- {bframes: 5}\n- {me: umh, crf: 30}\n")
    loaded = load_configurations(path, space)
    assert loaded[0]["bframes"] == 5 and loaded[0]["me"] == "hex" and loaded[1]["crf"] == 30.0
    path.write_text("ref: 3\n")
    with pytest.raises(TradeoffError, match="unknown option 'ref'"):
        load_configurations(path, space)

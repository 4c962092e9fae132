"""The CaDiCaL system, for real: generated instances, answers checked against known ones."""

import pytest

from systems import cnf, get_system
from systems.base import MeasurementFailed, measure_once
from tradeoff.errors import TradeoffError


@pytest.fixture()
def sat(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    system = get_system("sat")
    system.check()
    return system


def test_generated_instances_have_their_known_answers():
    assert cnf.reference_answer(cnf.pigeonhole(5)) == "UNSAT"
    assert cnf.reference_answer(cnf.planted_colouring(60, 3, 1)) == "SAT"
    assert cnf.random_3sat(50, 7) == cnf.random_3sat(50, 7) != cnf.random_3sat(50, 8)
    assert len(cnf.random_3sat(100, 1)) == 426
    with pytest.raises(TradeoffError, match="rand3-N-SEED"):
        cnf.generate("random-100")


def test_solves_generated_instances_and_options_change_the_search(sat):
    assert len(sat.space) >= 10
    unsat = sat.run(sat.space.default(), "php-7", 30, [])
    assert unsat["conflicts"] > 100 and unsat["time"] > 0
    plain = {**sat.space.default(), "elim": False, "probe": False, "vivify": False, "restartint": 50, "chrono": 0}
    assert sat.run(plain, "php-7", 30, [])["conflicts"] != unsat["conflicts"]
    satisfiable = sat.run(sat.space.default(), "rand3-150-1", 30, [])  # witness checked against every clause
    assert satisfiable["decisions"] > 0


def test_a_wrong_answer_is_a_failed_row(sat, tmp_path):
    sat.run(sat.space.default(), "php-7", 30, [])
    (tmp_path / "sat" / "php-7.answer").write_text("SAT")  # pretend the instance were satisfiable
    row = measure_once(sat, sat.space.default(), "php-7", 0, 30, [], "test", "")
    assert row["status"] == "failed" and "wrong answer" in row["error"]


def test_user_cnf_file_is_a_workload(sat, tmp_path):
    path = tmp_path / "mine.cnf"
    cnf.write_dimacs(path, cnf.planted_colouring(80, 3, 5))
    workload = sat.check_workload(str(path))
    assert sat.run(sat.space.default(), workload, 30, [])["decisions"] >= 0
    with pytest.raises(TradeoffError, match="does not exist"):
        sat.check_workload(str(tmp_path / "absent.cnf"))

"""Replays of FlexiBO, deeparch-xplorer (L2S) and Unicorn: recorded values come back exactly."""

import pandas as pd
import pytest

from systems import get_system, jetson
from systems.replay import datasets_dir
from tradeoff.errors import TradeoffError


def _datasets():
    try:
        return datasets_dir()
    except TradeoffError:
        return None


pytestmark = pytest.mark.skipif(_datasets() is None, reason="../shared/datasets is absent (set TRADEOFF_DATASETS)")


def test_flexibo_serves_the_recorded_tx2_row():
    system = get_system("flexibo", "TX2", "inceptionv3-200x200")
    assert len(system.space.population) == 768 and system.environment == "TX2"
    config = {"core0_status": True, "core1_status": False, "core2_status": False, "core3_status": False,
              "core_freq": 1113600, "gpu_freq": 1300500000, "emc_freq": 1062400000}  # Config0 of the table
    assert system.run(config, "inceptionv3-200x200", 1, [])["inference_time"] == pytest.approx(0.22558922237820095)
    assert len(system.workloads) == 8


def test_deeparch_joins_configurations_with_each_machines_runs():
    system = get_system("deeparch", "azure", "Adiac")
    assert len(system.space) == 12
    low = {name: False for name in system.space.names}  # configuration 1: every option at its low level
    assert system.run(low, "Adiac", 1, []) == pytest.approx({"inference_time": 0.3932924270629883, "val_acc": 0.0306905370844})
    assert "Wafer" in get_system("deeparch", "gpu-server").workloads
    with pytest.raises(TradeoffError, match="its workloads"):
        get_system("deeparch", "aws-nano", "Wafer")


def test_unicorn_decodes_one_hot_options():
    frame = pd.DataFrame({"freq@100": [1, 0], "freq@200": [0, 1], "swap@1": [1, 1], "y": [3.0, 4.0]})
    assert jetson.decode_one_hot(frame).to_dict("list") == {"freq": [100, 200], "swap": [1, 1]}
    system = get_system("unicorn", "Xavier", "Image")
    assert len(system.space) == 26 and {"core_freq", "vm.swappiness", "kernel.sched_latency_ns"} <= set(system.space.names)
    config = system.space.population.iloc[0].to_dict()
    assert system.run(config, "Image", 1, [])["inference_time"] > 0
    with pytest.raises(TradeoffError, match="its environments: TX2, Xavier"):
        get_system("unicorn", "Nano")

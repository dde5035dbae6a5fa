import pytest

from jepaworld.data import HELD_OUT_SEED_BASE
from jepaworld.eval import EvalConfig, held_out_seeds, wilson_interval


def test_wilson_interval_known_values():
    low, high = wilson_interval(95, 100)
    assert low == pytest.approx(0.8882, abs=1e-3) and high == pytest.approx(0.9785, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_held_out_seeds_are_disjoint_blocks_above_training_seeds():
    a, b = held_out_seeds(0, 500), held_out_seeds(1, 500)
    assert min(a) >= HELD_OUT_SEED_BASE and not set(a) & set(b)
    assert held_out_seeds(3, 5) == held_out_seeds(3, 5)


def test_eval_config_rejects_bad_values():
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        EvalConfig(episodes=0)
    with pytest.raises(ValueError, match="seed must be in"):
        EvalConfig(seed=-1)

"""Evaluation: the protocol of DESIGN.md, its statistics and its reports."""

from jepaworld.eval.protocol import EvalConfig, evaluate, held_out_seeds
from jepaworld.eval.stats import wilson_interval

__all__ = ["EvalConfig", "evaluate", "held_out_seeds", "wilson_interval"]

"""Latent metrics a planner can measure distances in.

``latent``: the latents' own Euclidean distance. ``steps``: the distance in units of how far the latent
moves in one model step, so that what changes slowly (an object that moves only when pushed) weighs as
much as what changes every step (the agent itself). It whitens latents by the second moment of one
model step's change, measured on episode data: ``W = Sigma^-1/2`` with Sigma's eigenvalues shrunk toward
their mean (``shrink``: 0 whitens fully, 1 gives back the Euclidean distance). ``W`` is scaled so that
a change of average size keeps its length.

Planning in a metric is a change of coordinates: the encoder's latents are mapped by ``W`` and the
rollout maps them back before imagining (``in_metric``), so every energy and planner works unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from jepaworld.config import check
from jepaworld.types import RolloutFn

METRICS = ("latent", "steps")


def check_metric_options(metric: str, shrink: float) -> None:
    """The metric options eval and ``collect --policy planner`` share (``--metric``, ``--metric-shrink``)."""
    check(metric in METRICS, f"metric must be one of {list(METRICS)}, got {metric!r}")
    check(0 < shrink <= 1, f"metric_shrink must be in (0, 1], got {shrink}")


def step_whitening(deltas: np.ndarray, shrink: float) -> np.ndarray:
    """One model step's latent changes ``[N, D]`` -> the whitening ``W [D, D]`` (symmetric, invertible)."""
    if deltas.ndim != 2 or len(deltas) < 2:
        raise ValueError(f"step changes: expected [N >= 2, D], got shape {list(deltas.shape)}")
    if not 0 < shrink <= 1:
        raise ValueError(f"shrink must be in (0, 1], got {shrink}")
    deltas = deltas.astype(np.float64)
    eigenvalues, vectors = np.linalg.eigh(deltas.T @ deltas / len(deltas))
    eigenvalues = eigenvalues.clip(min=0.0)
    mean = eigenvalues.mean()
    if not mean > 0:
        raise ValueError("the latents never change from one model step to the next in this data: no steps metric")
    shrunk = (1 - shrink) * eigenvalues + shrink * mean
    return (vectors * np.sqrt(mean / shrunk)) @ vectors.T


def in_metric(
    encode: Callable[[np.ndarray], torch.Tensor], rollout: RolloutFn, whitening: torch.Tensor
) -> tuple[Callable[[np.ndarray], torch.Tensor], RolloutFn]:
    """``encode`` and ``rollout`` (as ``eval.agents.model_functions`` makes them) in the coordinates
    ``z @ W``: the planner's latents, goals and energies are then measured in the metric."""
    forward = whitening.float()
    inverse = torch.linalg.inv(whitening.double()).float()

    def encode_in(frame: np.ndarray) -> torch.Tensor:
        return encode(frame) @ forward

    def rollout_in(z0: torch.Tensor, actions: torch.Tensor, past_actions: torch.Tensor | None = None) -> torch.Tensor:
        past = () if past_actions is None else (past_actions,)  # a rollout planners call takes two arguments
        return rollout(z0 @ inverse.to(z0.device), actions, *past) @ forward

    return encode_in, rollout_in

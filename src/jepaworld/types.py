"""The interfaces between parts, declared once, with shapes.

Shape letters: B batch, T time, H planning horizon, D latent size, A action size,
C/H/W image channels/height/width, N planner candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

#: ``rollout_fn(z0 [N, D], actions [N, H, A]) -> z [N, H, D]``: the latents reached after each action;
#: or ``[N, M, H, D]``, M imaginations of each (an ensemble's), scored by the worst (``planning.base.rollout_energy``).
RolloutFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: ``energy_fn(z [N, H, D], z_goal [D] | [G, D], actions [N, H, A]) -> energy [N]``: lower is better.
#: A goal ``[G, D]`` is a set of goals, any of which will do.
EnergyFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@runtime_checkable
class Encoder(Protocol):
    """``forward(obs [B, T, C, H, W] uint8|float) -> features [B, T, F]`` with ``F = self.out_dim``."""

    out_dim: int

    def __call__(self, obs: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Predictor(Protocol):
    """``forward(z [B, T, D], actions [B, T, A]) -> z_next [B, T, D]``, causal over T.

    Output ``t`` predicts the latent at ``t + 1`` from latents and actions at ``<= t``.
    """

    def __call__(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor: ...


@dataclass
class PlanResult:
    """What a planner returns.

    actions: ``[H, A]`` the best action sequence found, within the action bounds.
    energy: the energy of ``actions`` (lower is better).
    energy_per_iteration: the best energy found after each iteration (for plots and tests).
    """

    actions: torch.Tensor
    energy: float
    energy_per_iteration: list[float] = field(default_factory=list)


@runtime_checkable
class Planner(Protocol):
    """Searches action sequences that minimise an energy; knows a rollout function, never a model or env."""

    horizon: int

    def plan(
        self, z0: torch.Tensor, z_goal: torch.Tensor, rollout_fn: RolloutFn, init: torch.Tensor | None = None
    ) -> PlanResult:
        """z0 ``[D]``, z_goal ``[D]`` or a goal set ``[G, D]``, init ``[H, A]`` (a warm start) -> ``PlanResult``."""
        ...


def check_shape(name: str, tensor: torch.Tensor, expected: Sequence[int | str | None]) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``tensor`` has the expected rank and sizes.

    ``expected`` holds ints (fixed sizes) and str/None (any size, named for the message).
    """
    shape = tuple(tensor.shape)
    wanted = "[" + ", ".join(str(e) if e is not None else "*" for e in expected) + "]"
    if len(shape) != len(expected) or any(isinstance(e, int) and e != s for e, s in zip(expected, shape, strict=False)):
        raise ValueError(f"{name}: expected shape {wanted}, got {list(shape)}")

"""What every planner shares: its config, input checks, and NaN-safe energies."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jepaworld.config import check, option
from jepaworld.planning.energy import ENERGIES
from jepaworld.types import EnergyFn, RolloutFn, check_shape

PLANNER_NAMES = ("cem", "icem", "mppi", "gradient")


@dataclass(frozen=True)
class PlannerConfig:
    """Settings of the planner (one model step = ``frameskip`` env steps with the same action).

    Shared fields apply to every planner; the ``mppi_*``, ``icem_*`` and ``gradient_*`` fields to one.
    """

    planner: str = option("icem", f"planner: one of {', '.join(PLANNER_NAMES)}")
    horizon: int = option(8, "model steps planned ahead")
    samples: int = option(100, "candidates per iteration, one batched rollout (restarts for gradient)")
    iterations: int = option(4, "iterations per plan (refits, or Adam steps for gradient)")
    elites: int = option(10, "best candidates CEM/iCEM refit to")
    init_std: float = option(1.0, "initial sampling std, as a fraction of the half action range")
    min_std: float = option(0.05, "std floor, as a fraction of the half action range")
    energy: str = option(
        "min", "energy: min (closest approach to the goal over the horizon), terminal, or running (mean over it)"
    )
    action_penalty: float = option(0.0, "weight of the mean squared action (in half action ranges) added to the energy")
    icem_noise_beta: float = option(2.0, "iCEM: colour of the noise over time (0 white, 2 smooth)")
    icem_keep_elites: int = option(4, "iCEM: elites carried into the next iteration's candidates")
    mppi_temperature: float = option(0.1, "MPPI: softmax temperature, in units of the energies' spread")
    gradient_lr: float = option(0.3, "gradient: Adam step size on the unbounded action parameters")
    gradient_init: str = option("cem", "gradient: start from 'cem' (a short CEM run) or 'random' restarts")

    def __post_init__(self) -> None:
        check(self.planner in PLANNER_NAMES, f"planner must be one of {list(PLANNER_NAMES)}, got {self.planner!r}")
        for name in ("horizon", "samples", "iterations", "elites"):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(self.elites <= self.samples, f"elites ({self.elites}) must be <= samples ({self.samples})")
        check(self.init_std > 0 and self.min_std >= 0, "init_std must be > 0 and min_std >= 0")
        check(self.energy in ENERGIES, f"energy must be one of {ENERGIES.names()}, got {self.energy!r}")
        check(self.action_penalty >= 0, f"action_penalty must be >= 0, got {self.action_penalty}")
        check(
            0 <= self.icem_keep_elites <= self.elites,
            f"icem_keep_elites must be in [0, elites], got {self.icem_keep_elites}",
        )
        check(self.mppi_temperature > 0, f"mppi_temperature must be > 0, got {self.mppi_temperature}")
        check(self.gradient_lr > 0, f"gradient_lr must be > 0, got {self.gradient_lr}")
        check(
            self.gradient_init in ("cem", "random"),
            f"gradient_init must be 'cem' or 'random', got {self.gradient_init!r}",
        )


def nonfinite_lose(energy: torch.Tensor) -> torch.Tensor:
    """Energies ``[N]`` with NaN and infinities mapped to +inf: such candidates lose, never win."""
    return torch.where(torch.isfinite(energy), energy, torch.full_like(energy, float("inf")))


def rollout_energy(energy_fn: EnergyFn, z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``energy_fn`` of imagined latents ``z [N, H, D]``, or of ``[N, M, H, D]``: M imaginations of each
    candidate (an ensemble's predictors, ``eval --ensemble-score worst``). Then each one is scored and a
    candidate counts as its worst, so a plan whose outcome the predictors disagree on loses: the planner
    cannot pick a plan for one predictor's error in its favour."""
    if z.dim() == 4:
        return torch.stack([energy_fn(z[:, m], z_goal, actions) for m in range(z.shape[1])]).amax(0)
    return energy_fn(z, z_goal, actions)


def safe_energy(energy_fn: EnergyFn, z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``rollout_energy``, shape-checked, with ``nonfinite_lose`` applied."""
    energy = rollout_energy(energy_fn, z, z_goal, actions)
    check_shape("energy", energy, [actions.shape[0]])
    return nonfinite_lose(energy)


def check_plan_inputs(z0: torch.Tensor, z_goal: torch.Tensor, rollout_fn: RolloutFn) -> None:
    """The start is one latent ``[D]``; the goal one latent ``[D]`` or a non-empty set ``[G, D]``."""
    if z0.dim() != 1:
        raise ValueError(f"start latent: expected shape [D], got {list(z0.shape)}")
    if z_goal.dim() not in (1, 2) or z_goal.shape[-1] != z0.shape[0] or z_goal.numel() == 0:
        raise ValueError(
            f"goal latent: expected shape [{z0.shape[0]}] or [G, {z0.shape[0]}] (the start latent's size), "
            f"got {list(z_goal.shape)} (was the goal encoded by another model?)"
        )
    if not callable(rollout_fn):
        raise TypeError(f"rollout_fn must be callable, got {type(rollout_fn).__name__}")


def initial_mean(low: torch.Tensor, high: torch.Tensor, horizon: int, init: torch.Tensor | None) -> torch.Tensor:
    """The warm start ``init [H, A]`` clamped into bounds, or the middle of the bounds."""
    if init is None:
        return ((low + high) / 2).expand(horizon, low.numel()).clone()
    init = init.detach().float()
    check_shape("planner init", init, [horizon, low.numel()])
    return init.clamp(low, high)


class SamplingPlanner:
    """What CEM and MPPI share: bounds, sampling std in units of the half action range, a seeded
    generator, and the start of every plan (checked inputs, starting mean and std, batched ``z0``)."""

    def __init__(
        self,
        action_low,
        action_high,
        horizon: int,
        samples: int,
        iterations: int,
        init_std: float,
        min_std: float,
        energy: EnergyFn | None,
        seed: int,
    ) -> None:
        self.low = torch.as_tensor(action_low, dtype=torch.float32)
        self.high = torch.as_tensor(action_high, dtype=torch.float32)
        self.horizon, self.samples, self.iterations = horizon, samples, iterations
        self.half_range = (self.high - self.low) / 2
        self.init_std, self.min_std = init_std, min_std
        self.energy = energy or ENERGIES.get("min")
        self.generator = torch.Generator().manual_seed(seed)

    def _start(self, z0: torch.Tensor, z_goal: torch.Tensor, rollout_fn: RolloutFn, init: torch.Tensor | None):
        """-> mean ``[H, A]``, std ``[H, A]``, std floor ``[A]``, z0 repeated for every candidate ``[N, D]``."""
        check_plan_inputs(z0, z_goal, rollout_fn)
        mean = initial_mean(self.low, self.high, self.horizon, init)
        std = (self.init_std * self.half_range).expand(self.horizon, self.low.numel()).clone()
        z0_batch = z0.unsqueeze(0).expand(self.samples, *z0.shape)
        return mean, std, self.min_std * self.half_range, z0_batch

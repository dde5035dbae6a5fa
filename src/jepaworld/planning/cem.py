"""The cross-entropy method: sample action sequences, keep the elites, refit a Gaussian, repeat."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jepaworld.config import check, option
from jepaworld.planning.energy import ENERGIES
from jepaworld.types import EnergyFn, PlanResult, RolloutFn, check_shape


@dataclass(frozen=True)
class CEMConfig:
    """Settings of the CEM planner (one model step = ``frameskip`` env steps with the same action)."""

    horizon: int = option(8, "model steps planned ahead")
    samples: int = option(200, "candidate action sequences per iteration (one batched rollout)")
    iterations: int = option(8, "refits of the sampling distribution per plan")
    elites: int = option(20, "best candidates the distribution is refit to")
    init_std: float = option(1.0, "initial std, as a fraction of the half action range")
    min_std: float = option(0.05, "std floor, as a fraction of the half action range")
    energy: str = option(
        "min", "energy: min (closest approach to the goal latent over the horizon) or terminal (last latent to goal)"
    )

    def __post_init__(self) -> None:
        for name in ("horizon", "samples", "iterations", "elites"):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(self.elites <= self.samples, f"elites ({self.elites}) must be <= samples ({self.samples})")
        check(self.init_std > 0 and self.min_std >= 0, "init_std must be > 0 and min_std >= 0")
        check(self.energy in ENERGIES, f"energy must be one of {ENERGIES.names()}, got {self.energy!r}")


class CEM:
    """Batched CEM: every candidate of an iteration goes through one ``rollout_fn`` call.

    action_low/high ``[A]`` bound every action. ``plan(z0 [D], z_goal [D], rollout_fn, init [H, A])``.
    """

    def __init__(
        self,
        action_low,
        action_high,
        horizon: int = 8,
        samples: int = 200,
        iterations: int = 8,
        elites: int = 20,
        init_std: float = 1.0,
        min_std: float = 0.05,
        energy: EnergyFn | None = None,
        seed: int = 0,
    ) -> None:
        self.low = torch.as_tensor(action_low, dtype=torch.float32)
        self.high = torch.as_tensor(action_high, dtype=torch.float32)
        self.horizon, self.samples, self.iterations, self.elites = horizon, samples, iterations, elites
        self.half_range = (self.high - self.low) / 2
        self.init_std, self.min_std = init_std, min_std
        self.energy = energy or ENERGIES.get("min")
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_config(cls, config: CEMConfig, action_low, action_high, seed: int = 0) -> CEM:
        return cls(
            action_low,
            action_high,
            horizon=config.horizon,
            samples=config.samples,
            iterations=config.iterations,
            elites=config.elites,
            init_std=config.init_std,
            min_std=config.min_std,
            energy=ENERGIES.get(config.energy),
            seed=seed,
        )

    @torch.inference_mode()
    def plan(
        self, z0: torch.Tensor, z_goal: torch.Tensor, rollout_fn: RolloutFn, init: torch.Tensor | None = None
    ) -> PlanResult:
        a_dim = self.low.numel()
        mean = (self.low + self.high).div(2).expand(self.horizon, a_dim).clone() if init is None else init.float()
        check_shape("CEM init", mean, [self.horizon, a_dim])
        std = (self.init_std * self.half_range).expand(self.horizon, a_dim).clone()
        floor = self.min_std * self.half_range
        z0_batch = z0.unsqueeze(0).expand(self.samples, *z0.shape)
        best, best_energy, history = mean.clone(), float("inf"), []
        for _ in range(self.iterations):
            noise = torch.randn(self.samples, self.horizon, a_dim, generator=self.generator)
            candidates = (mean + std * noise).clamp(self.low, self.high)
            candidates[0] = mean  # the current mean always competes (elite carry-over)
            energy = self.energy(rollout_fn(z0_batch, candidates), z_goal, candidates)  # [N]
            order = torch.argsort(energy)[: self.elites]
            elites = candidates[order]
            mean = elites.mean(0)
            if self.elites > 1:
                std = elites.std(0).clamp_min(floor)
            if energy[order[0]] < best_energy:
                best_energy, best = float(energy[order[0]]), candidates[order[0]].clone()
            history.append(best_energy)
        return PlanResult(actions=best, energy=best_energy, energy_per_iteration=history)

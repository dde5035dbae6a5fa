"""MPPI: sample around the current plan, then move it to the energy-weighted average of the samples."""

from __future__ import annotations

import torch

from jepaworld.planning.base import PlannerConfig, SamplingPlanner, safe_energy
from jepaworld.planning.energy import build_energy
from jepaworld.types import EnergyFn, PlanResult, RolloutFn


class MPPI(SamplingPlanner):
    """Model-predictive path integral control, batched like CEM.

    Weights are ``softmax(-(E - E_min) / (temperature * spread))`` with ``spread`` the standard
    deviation of the finite energies, so ``temperature`` does not depend on the latent's scale.
    The sampling std is refit to the weighted samples (floored at ``min_std``). Returns the final
    weighted mean, or the best sample seen when that is lower in energy.
    """

    def __init__(
        self,
        action_low,
        action_high,
        horizon: int = 8,
        samples: int = 200,
        iterations: int = 8,
        temperature: float = 0.1,
        init_std: float = 1.0,
        min_std: float = 0.05,
        energy: EnergyFn | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(action_low, action_high, horizon, samples, iterations, init_std, min_std, energy, seed)
        self.temperature = temperature

    @classmethod
    def from_config(cls, config: PlannerConfig, action_low, action_high, seed: int = 0) -> MPPI:
        return cls(
            action_low,
            action_high,
            horizon=config.horizon,
            samples=config.samples,
            iterations=config.iterations,
            temperature=config.mppi_temperature,
            init_std=config.init_std,
            min_std=config.min_std,
            energy=build_energy(config.energy, config.action_penalty, action_low, action_high),
            seed=seed,
        )

    @torch.inference_mode()
    def plan(
        self, z0: torch.Tensor, z_goal: torch.Tensor, rollout_fn: RolloutFn, init: torch.Tensor | None = None
    ) -> PlanResult:
        a_dim = self.low.numel()
        mean, std, floor, z0_batch = self._start(z0, z_goal, rollout_fn, init)
        best, best_energy, history = mean.clone(), float("inf"), []
        for _ in range(self.iterations):
            noise = torch.randn(self.samples, self.horizon, a_dim, generator=self.generator)
            candidates = (mean + std * noise).clamp(self.low, self.high)
            candidates[0] = mean
            energy = safe_energy(self.energy, rollout_fn(z0_batch, candidates), z_goal, candidates)  # [N]
            finite = torch.isfinite(energy)
            if not finite.any():
                history.append(best_energy)
                continue
            lowest = energy[finite].min()
            spread = energy[finite].std() if finite.sum() > 1 else energy.new_tensor(1.0)
            weights = torch.softmax(-(energy - lowest) / (self.temperature * spread.clamp_min(1e-12)), dim=0)
            mean = torch.einsum("n,nha->ha", weights, candidates)
            std = torch.einsum("n,nha->ha", weights, (candidates - mean) ** 2).sqrt().clamp_min(floor)
            index = int(torch.argmin(energy))
            if energy[index] < best_energy:
                best_energy, best = float(energy[index]), candidates[index].clone()
            history.append(best_energy)
        final = safe_energy(self.energy, rollout_fn(z0_batch[:1], mean[None]), z_goal, mean[None])
        if float(final[0]) <= best_energy:
            best_energy, best = float(final[0]), mean
            history[-1:] = [best_energy]
        return PlanResult(actions=best, energy=best_energy, energy_per_iteration=history)

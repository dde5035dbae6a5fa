"""The cross-entropy method and iCEM: sample action sequences, keep the elites, refit a Gaussian, repeat.

iCEM (Pinneri et al. 2020) adds temporally coloured noise (smooth action sequences) and carries the
best elites of one iteration into the next one's candidates.
"""

from __future__ import annotations

import torch

from jepaworld.planning.base import PlannerConfig, SamplingPlanner, safe_energy
from jepaworld.planning.energy import build_energy
from jepaworld.types import EnergyFn, PlanResult, RolloutFn


def coloured_noise(samples: int, horizon: int, dim: int, beta: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise ``[N, H, A]`` with power spectrum ``1 / f^beta`` along H, unit variance (beta 0: white)."""
    if beta == 0 or horizon < 2:
        return torch.randn(samples, horizon, dim, generator=generator)
    freqs = torch.fft.rfftfreq(horizon)
    freqs[0] = freqs[1]  # the constant component gets the weight of the slowest oscillation
    scale = freqs ** (-beta / 2)
    spectrum = (
        torch.complex(
            torch.randn(samples, dim, len(freqs), generator=generator),
            torch.randn(samples, dim, len(freqs), generator=generator),
        )
        * scale
    )
    noise = torch.fft.irfft(spectrum, n=horizon)  # [N, A, H]
    return (noise / noise.std()).transpose(1, 2).contiguous()


class CEM(SamplingPlanner):
    """Batched CEM: every candidate of an iteration goes through one ``rollout_fn`` call.

    action_low/high ``[A]`` bound every action. ``plan(z0 [D], z_goal [D], rollout_fn, init [H, A])``.
    ``noise_beta > 0`` and ``keep_elites > 0`` make it iCEM.
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
        noise_beta: float = 0.0,
        keep_elites: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(action_low, action_high, horizon, samples, iterations, init_std, min_std, energy, seed)
        self.elites, self.noise_beta, self.keep_elites = elites, noise_beta, keep_elites

    @classmethod
    def from_config(cls, config: PlannerConfig, action_low, action_high, seed: int = 0) -> CEM:
        icem = config.planner == "icem"
        return cls(
            action_low,
            action_high,
            horizon=config.horizon,
            samples=config.samples,
            iterations=config.iterations,
            elites=config.elites,
            init_std=config.init_std,
            min_std=config.min_std,
            energy=build_energy(config.energy, config.action_penalty, action_low, action_high),
            noise_beta=config.icem_noise_beta if icem else 0.0,
            keep_elites=config.icem_keep_elites if icem else 0,
            seed=seed,
        )

    @torch.inference_mode()
    def plan(
        self, z0: torch.Tensor, z_goal: torch.Tensor, rollout_fn: RolloutFn, init: torch.Tensor | None = None
    ) -> PlanResult:
        a_dim = self.low.numel()
        mean, std, floor, z0_batch = self._start(z0, z_goal, rollout_fn, init)
        best, best_energy, history = mean.clone(), float("inf"), []
        kept = mean[None][:0]  # [0, H, A]: elites carried over from the last iteration (iCEM)
        for _ in range(self.iterations):
            noise = coloured_noise(self.samples, self.horizon, a_dim, self.noise_beta, self.generator)
            candidates = (mean + std * noise).clamp(self.low, self.high)
            candidates[0] = mean  # the current mean always competes
            if len(kept):
                candidates[1 : 1 + len(kept)] = kept
            energy = safe_energy(self.energy, rollout_fn(z0_batch, candidates), z_goal, candidates)  # [N]
            order = torch.argsort(energy)[: self.elites]
            elites = candidates[order]
            kept = elites[: self.keep_elites]
            mean = elites.mean(0)
            if self.elites > 1:
                std = elites.std(0).clamp_min(floor)
            if energy[order[0]] < best_energy:
                best_energy, best = float(energy[order[0]]), candidates[order[0]].clone()
            history.append(best_energy)
        return PlanResult(actions=best, energy=best_energy, energy_per_iteration=history)

"""Gradient planning: Adam on the action sequence, through the differentiable rollout.

Actions are ``low + (high - low) * sigmoid(u)``, so every iterate is inside the bounds. Several
restarts descend together in one batched rollout; with ``init="cem"`` a short CEM run gives the
starting point (gradients polish what sampling found).
"""

from __future__ import annotations

import torch

from jepaworld.planning.base import (
    PlannerConfig,
    check_plan_inputs,
    initial_mean,
    nonfinite_lose,
    rollout_energy,
    safe_energy,
)
from jepaworld.planning.cem import CEM
from jepaworld.planning.energy import ENERGIES, build_energy
from jepaworld.types import EnergyFn, PlanResult, RolloutFn


class GradientPlanner:
    """``restarts`` sequences, ``iterations`` Adam steps of size ``lr`` on their unbounded parameters."""

    def __init__(
        self,
        action_low,
        action_high,
        horizon: int = 8,
        restarts: int = 16,
        iterations: int = 30,
        lr: float = 0.3,
        init: str = "cem",
        init_std: float = 1.0,
        energy: EnergyFn | None = None,
        cem_samples: int = 100,
        cem_iterations: int = 3,
        seed: int = 0,
    ) -> None:
        if init not in ("cem", "random"):
            raise ValueError(f"gradient planner init must be 'cem' or 'random', got {init!r}")
        self.low = torch.as_tensor(action_low, dtype=torch.float32)
        self.high = torch.as_tensor(action_high, dtype=torch.float32)
        self.horizon, self.restarts, self.iterations, self.lr = horizon, restarts, iterations, lr
        self.init, self.init_std = init, init_std
        self.energy = energy or ENERGIES.get("min")
        self.generator = torch.Generator().manual_seed(seed)
        self.cem = CEM(
            action_low,
            action_high,
            horizon=horizon,
            samples=cem_samples,
            iterations=cem_iterations,
            elites=max(2, cem_samples // 10),
            init_std=init_std,
            energy=self.energy,
            seed=seed,
        )

    @classmethod
    def from_config(cls, config: PlannerConfig, action_low, action_high, seed: int = 0) -> GradientPlanner:
        return cls(
            action_low,
            action_high,
            horizon=config.horizon,
            restarts=max(1, config.samples // 10),
            iterations=config.iterations,
            lr=config.gradient_lr,
            init=config.gradient_init,
            init_std=config.init_std,
            energy=build_energy(config.energy, config.action_penalty, action_low, action_high),
            cem_samples=config.samples,
            cem_iterations=max(1, config.iterations // 3),
            seed=seed,
        )

    def _to_params(self, actions: torch.Tensor) -> torch.Tensor:
        unit = ((actions - self.low) / (self.high - self.low)).clamp(1e-4, 1 - 1e-4)
        return torch.logit(unit)

    def _to_actions(self, params: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * torch.sigmoid(params)

    def plan(
        self, z0: torch.Tensor, z_goal: torch.Tensor, rollout_fn: RolloutFn, init: torch.Tensor | None = None
    ) -> PlanResult:
        check_plan_inputs(z0, z_goal, rollout_fn)
        start = (
            self.cem.plan(z0, z_goal, rollout_fn, init).actions
            if self.init == "cem"
            else initial_mean(self.low, self.high, self.horizon, init)
        )
        a_dim = self.low.numel()
        with torch.inference_mode(False), torch.enable_grad():
            z0_batch = z0.clone().unsqueeze(0).expand(self.restarts, *z0.shape)  # clone: not an inference tensor
            z_goal = z_goal.clone()
            spread = self.init_std * 2.0 * torch.randn(self.restarts, self.horizon, a_dim, generator=self.generator)
            spread[0] = 0.0  # restart 0 starts exactly at the starting point
            params = (self._to_params(start.clone())[None] + spread).requires_grad_()
            optimizer = torch.optim.Adam([params], lr=self.lr)
            best, best_energy, history = start.clone(), float("inf"), []
            for _ in range(self.iterations):
                actions = self._to_actions(params)
                z = rollout_fn(z0_batch, actions)
                if not z.requires_grad:
                    raise TypeError(
                        "the gradient planner needs a differentiable rollout_fn (one that does not "
                        "run under torch.no_grad/inference_mode, on torch tensors)"
                    )
                energy = rollout_energy(self.energy, z, z_goal, actions)  # [R]
                finite = torch.isfinite(energy)
                masked = nonfinite_lose(energy.detach())
                index = int(torch.argmin(masked))
                if masked[index] < best_energy:
                    best_energy, best = float(masked[index]), actions[index].detach().clone()
                history.append(best_energy)
                optimizer.zero_grad()
                if finite.any():
                    energy[finite].sum().backward()
                    params.grad = torch.nan_to_num(params.grad, nan=0.0, posinf=0.0, neginf=0.0)
                    optimizer.step()
            # The last step's result has not been scored yet.
            actions = self._to_actions(params).detach()
            with torch.no_grad():
                energy = safe_energy(self.energy, rollout_fn(z0_batch, actions), z_goal, actions)
            index = int(torch.argmin(energy))
            if energy[index] < best_energy:
                best_energy, best = float(energy[index]), actions[index].clone()
                history[-1:] = [best_energy]
        return PlanResult(actions=best, energy=best_energy, energy_per_iteration=history)

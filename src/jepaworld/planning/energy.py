"""Energies of imagined rollouts: ``energy(z [N, H, D], z_goal [D] | [G, D], actions [N, H, A]) -> [N]``.

A goal is one latent ``[D]`` or a set of ``G`` latents ``[G, D]``; with a set, every distance is to the
nearest goal (reach any). Energies are registered by name; ``build_energy`` adds the optional
per-step action penalty. A planner takes any function with this signature, so users can pass their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from jepaworld.registry import Registry
from jepaworld.types import EnergyFn

ENERGIES: Registry = Registry("energy")


def goal_distance(z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of every imagined latent ``z [N, H, D]`` to the nearest goal -> ``[N, H]``."""
    if z_goal.dim() == 1:
        return (z - z_goal).pow(2).mean(-1)
    return (z.unsqueeze(-2) - z_goal).pow(2).mean(-1).min(dim=-1).values  # [N, H, G] -> [N, H]


@ENERGIES.register("terminal")
def terminal_distance(z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Distance between the last imagined latent and the goal."""
    return goal_distance(z[:, -1:], z_goal)[:, 0]


@ENERGIES.register("min")
def min_distance(z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The closest the rollout comes to the goal: reach it at any step of the horizon."""
    return goal_distance(z, z_goal).min(dim=1).values


@ENERGIES.register("running")
def running_distance(z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """A running cost: the distance to the goal averaged over every step of the horizon (get there early, stay)."""
    return goal_distance(z, z_goal).mean(dim=1)


def with_action_penalty(
    energy: EnergyFn, weight: float, action_low: Sequence[float], action_high: Sequence[float]
) -> EnergyFn:
    """``energy`` plus ``weight`` times the mean squared action, in units of the half action range
    around the middle of the bounds (so the weight does not depend on the env's action scale)."""
    low = torch.as_tensor(action_low, dtype=torch.float32)
    high = torch.as_tensor(action_high, dtype=torch.float32)
    middle, half_range = (low + high) / 2, ((high - low) / 2).clamp_min(1e-12)

    def penalised(z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        scaled = (actions - middle.to(actions.device)) / half_range.to(actions.device)
        return energy(z, z_goal, actions) + weight * scaled.pow(2).mean(dim=(1, 2))

    return penalised


def build_energy(name: str, action_penalty: float, action_low, action_high) -> EnergyFn:
    """The registered energy ``name``, with the action penalty when its weight is positive."""
    energy = ENERGIES.get(name)
    if action_penalty > 0:
        energy = with_action_penalty(energy, action_penalty, action_low, action_high)
    return energy

"""Energies of imagined rollouts: ``energy(z [N, H, D], z_goal [D], actions [N, H, A]) -> [N]``."""

from __future__ import annotations

import torch

from jepaworld.registry import Registry

ENERGIES: Registry = Registry("energy")


@ENERGIES.register("terminal")
def terminal_distance(z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the last imagined latent and the goal latent."""
    return (z[:, -1] - z_goal).pow(2).mean(-1)


@ENERGIES.register("min")
def min_distance(z: torch.Tensor, z_goal: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The closest the rollout comes to the goal: reach it at any step of the horizon."""
    return (z - z_goal).pow(2).mean(-1).min(dim=1).values

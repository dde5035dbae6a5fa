"""Angles in radians: the one wrapping rule every env, policy and measure shares."""

from __future__ import annotations

import numpy as np


def wrap_angle(angle):
    """``angle`` (a number or an array) brought into ``[-pi, pi)``: a difference of angles the short way round."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def pose_features(positions, angle, position_scale: float, angle_scale: float):
    """Positions ``[..., P]`` and an angle ``[...]`` (numpy or torch) -> ``[..., P + 2]``: the positions in
    units of ``position_scale``, the angle as cosine and sine in units of ``angle_scale``. A squared
    distance of 1 is then about one scale off either way, and the angle never wraps (oracle energies)."""
    if isinstance(positions, np.ndarray):
        turn = np.stack([np.cos(angle), np.sin(angle)], -1)
        return np.concatenate([positions / position_scale, turn / angle_scale], -1)
    import torch

    turn = torch.stack([angle.cos(), angle.sin()], -1)
    return torch.cat([positions / position_scale, turn / angle_scale], -1)

"""Policies that need no model: the data policy and the scripted oracle solver."""

from __future__ import annotations

import numpy as np

from jepaworld.envs.two_room import TwoRoomPhysics


class MomentumRandomPolicy:
    """Random actions with momentum: ``v_t = beta * v_{t-1} + sqrt(1 - beta^2) * scale * eps``.

    Correlated actions travel far, so the data crosses the door often enough to learn it
    (white-noise actions jitter in place). Actions are clipped to ``[low, high]``.
    """

    def __init__(
        self,
        low: np.ndarray,
        high: np.ndarray,
        beta: float = 0.9,
        scale: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"momentum beta must be in [0, 1), got {beta}")
        self.low, self.high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        self.beta, self.scale = beta, scale
        self.rng = rng or np.random.default_rng()
        self._velocity = self._noise()

    def _noise(self) -> np.ndarray:
        return self.rng.normal(size=self.low.shape) * self.scale * (self.high - self.low) / 2

    def reset(self) -> None:
        self._velocity = self._noise()

    def __call__(self) -> np.ndarray:
        self._velocity = self.beta * self._velocity + np.sqrt(1 - self.beta**2) * self._noise()
        return np.clip(self._velocity, self.low, self.high).astype(np.float32)


def scripted_two_room_action(physics: TwoRoomPhysics, pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """The oracle solver: line up with the door, go through it, then head for the goal -> action ``[2]``."""
    pos, goal = np.asarray(pos, np.float64), np.asarray(goal, np.float64)
    r = physics.agent_radius
    if physics.room(pos[None])[0] != physics.room(goal[None])[0]:
        side = -1.0 if pos[0] < physics.wall_x else 1.0
        if abs(pos[1] - physics.door_center) > 1.0:
            target = np.array([physics.wall_x + side * (physics.wall_width / 2 + r + 1.0), physics.door_center])
        else:
            target = np.array([physics.wall_x - side * (physics.wall_width / 2 + r + 2.0), physics.door_center])
    else:
        target = goal
    return np.clip((target - pos) / physics.max_speed, -1.0, 1.0).astype(np.float32)

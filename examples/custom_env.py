"""Bring your own environment: a puck that slides on ice, written as any Gymnasium env is.

jepaworld needs only three things of an env: a ``Box`` action space, ``render()`` returning an RGB
frame (``render_mode="rgb_array"``), and, to measure success, the true state somewhere in ``info``.
It does not need a goal, a reward or pixel observations: this env observes a state vector, renders
96 x 128 frames (jepaworld crops and resizes them to the model's size) and keeps momentum, so a
model must learn that the puck goes on sliding after a push.

    jepaworld collect --env examples/custom_env.py:PuckEnv --episodes 300 --out data/puck.h5
    jepaworld train --data data/puck.h5 --out runs/puck --steps 3000
    jepaworld eval --checkpoint runs/puck --env examples/custom_env.py:PuckEnv \\
        --state-key position --success-radius 0.1 --episodes 100 --out runs/puck/eval

The goal of each evaluation episode is the frame the data policy reaches 25 steps from the same
start (``--goal-offset``); success is ``info["position"]`` within 0.1 of the goal's position.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np


class PuckEnv(gym.Env):
    """A puck on a 1 x 1 table with walls. Action: a push ``[fx, fy]`` in ``[-1, 1]``; friction slows it."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, render_mode: str | None = None, friction: float = 0.15, push: float = 0.01) -> None:
        self.render_mode = render_mode
        self.friction, self.push, self.radius = friction, push, 0.06
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.position, self.velocity = np.zeros(2), np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(self.radius, 1 - self.radius, size=2)
        self.velocity = np.zeros(2)
        return self._observation(), self._info()

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.velocity = (1 - self.friction) * self.velocity + self.push * action
        self.position = self.position + self.velocity
        for axis in range(2):  # bounce off the walls, losing half the speed
            low, high = self.radius, 1 - self.radius
            if not low <= self.position[axis] <= high:
                self.position[axis] = np.clip(self.position[axis], low, high)
                self.velocity[axis] *= -0.5
        return self._observation(), 0.0, False, False, self._info()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        height, width = 96, 128  # not square: jepaworld takes the centred square and resizes it
        frame = np.full((height, width, 3), (235, 235, 225), np.uint8)
        left = (width - height) // 2  # the table fills the centred square
        frame[:, left : left + height] = (40, 90, 140)
        yy, xx = np.mgrid[0:height, 0:height]
        cx, cy = self.position * height
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= (self.radius * height) ** 2
        frame[:, left : left + height][disc] = (250, 200, 40)
        return frame

    def _observation(self) -> np.ndarray:
        return np.concatenate([self.position, self.velocity]).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"position": self.position.astype(np.float32)}

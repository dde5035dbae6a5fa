"""Policies that need no model: the data policy and the scripted oracle solver."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jepaworld.envs.angles import wrap_angle
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


@dataclass(frozen=True)
class PushingGeometry:
    """Lengths of a pushing task in the env's units: where the middle is, how far behind the object a push
    starts, when the agent counts as arrived, how far one action reaches, how close the object may pass."""

    centre: float
    stand_off: tuple[float, float]
    arrived: float
    edge: float
    reach: float
    clearance: float


class PushingDataPolicy:
    """Noisy pushing: go to a point just off a random side of the object, then push through its centre
    for a few steps; repeat. Momentum noise throughout, so the pushes vary in where and how far.

    Random actions alone rarely touch the object; this policy moves it in most steps, as an expert
    would. ``env.state`` starts ``[agent x, agent y, object x, object y, ...]``.
    """

    def __init__(
        self, env, geometry: PushingGeometry, rng: np.random.Generator, noise: float = 0.3, beta: float = 0.8
    ) -> None:
        self.env, self.geometry, self.rng = env, geometry, rng
        self.noise = MomentumRandomPolicy(-np.ones(2), np.ones(2), beta=beta, scale=noise, rng=rng)
        self.phase, self.steps_left, self.point = "approach", 0, np.zeros(2)

    def reset(self) -> None:
        self.steps_left = 0

    def _new_push(self, block: np.ndarray) -> None:
        # Near the edges pushes head roughly for the middle, so the object is not driven into a corner.
        g = self.geometry
        inward = np.arctan2(*(g.centre - block)[::-1])
        if np.linalg.norm(block - g.centre) > g.edge or self.rng.random() < 0.3:
            angle = inward + self.rng.uniform(-np.pi / 3, np.pi / 3)
        else:
            angle = self.rng.uniform(-np.pi, np.pi)
        self.point = block - self.rng.uniform(*g.stand_off) * np.array([np.cos(angle), np.sin(angle)])
        self.phase, self.steps_left = "approach", 25

    def __call__(self) -> np.ndarray:
        state = self.env.state
        agent, block = state[:2], state[2:4]
        if self.steps_left <= 0:
            self._new_push(block)
        self.steps_left -= 1
        if self.phase == "approach" and np.linalg.norm(agent - self.point) < self.geometry.arrived:
            self.phase, self.steps_left = "push", int(self.rng.integers(2, 9))
        target = self.point if self.phase == "approach" else block + 0.6 * (block - self.point)
        if self.phase == "approach":
            target = self._around(agent, block, target)
        action = (target - agent) / self.geometry.reach + self.noise()
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _around(self, agent: np.ndarray, block: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Go round the object, not through it: when it lies ahead, step sideways past it."""
        to_block, to_target = block - agent, target - agent
        distance = np.linalg.norm(to_block)
        ahead = to_block @ to_target / (distance * np.linalg.norm(to_target) + 1e-9)
        if distance > self.geometry.clearance or ahead < 0.5 or np.linalg.norm(to_target) < distance:
            return target
        side = np.array([-to_block[1], to_block[0]]) / (distance + 1e-9)
        side = side if side @ to_target >= 0 else -side
        return agent + self.geometry.reach * side


class ReachingDataPolicy:
    """Noisy reaching for a jointed arm: PD control of the joint angles towards a random reachable pose,
    held for a random while, then the next; momentum noise throughout.

    Random torques keep an arm flailing at full speed, so its data hardly shows one arriving and
    stopping, which is what a reaching goal asks for; this policy shows both, as an expert would.
    ``sample_pose(rng) -> joints``, ``env.joints`` and ``env.joint_velocities`` come from the env;
    ``wraps`` marks the joints that turn freely (the error goes the short way round), the others have
    limits (the error goes the way that stays inside them).
    """

    def __init__(
        self,
        env,
        rng: np.random.Generator,
        wraps: tuple[bool, ...],
        gains: tuple[float, float] = (3.0, 0.2),
        noise: float = 0.15,
    ) -> None:
        self.env, self.rng, self.gains, self.wraps = env, rng, gains, np.asarray(wraps)
        self.noise = MomentumRandomPolicy(-np.ones(2), np.ones(2), beta=0.8, scale=noise, rng=rng)
        self.target, self.steps_left = np.zeros(2), 0

    def reset(self) -> None:
        self.steps_left = 0

    def __call__(self) -> np.ndarray:
        if self.steps_left <= 0:
            self.target, self.steps_left = self.env.sample_pose(self.rng), int(self.rng.integers(10, 31))
        self.steps_left -= 1
        action = joint_pd_action(self.env, self.target, self.wraps, self.gains) + self.noise()
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def joint_pd_action(env, target: np.ndarray, wraps, gains: tuple[float, float] = (3.0, 0.2)) -> np.ndarray:
    """PD torques ``[J]`` that drive ``env.joints`` to ``target``: the error goes the short way round on the
    joints that ``wraps`` marks as turning freely; ``env.joint_velocities`` damp it. Not clipped."""
    error = np.asarray(target) - env.joints
    error = np.where(np.asarray(wraps), wrap_angle(error), error)
    kp, kd = gains
    return kp * error - kd * env.joint_velocities


def data_policy(env, rng: np.random.Generator, momentum: float = 0.9):
    """The env's own data policy where it has one (``env.unwrapped.data_policy(rng)``), else momentum-random."""
    unwrapped = env.unwrapped
    if hasattr(unwrapped, "data_policy"):
        return unwrapped.data_policy(rng)
    return random_policy(env, rng, momentum)


def random_policy(env, rng: np.random.Generator, momentum: float = 0.9) -> MomentumRandomPolicy:
    """Momentum-random actions over the env's whole action space (``collect --policy random``)."""
    space = env.action_space
    return MomentumRandomPolicy(space.low, space.high, beta=momentum, rng=rng)

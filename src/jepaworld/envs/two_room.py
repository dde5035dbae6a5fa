"""Two-Room: a point agent in a square arena split by a wall with one door.

Simulator state and task logic are apart (as dm_control splits ``Physics`` and ``Task``):

* ``TwoRoomPhysics`` moves batches of agent positions ``[N, 2]`` (pixels, x right, y down)
  with wall collisions and renders them to ``[N, 64, 64, 3]`` uint8 frames, all vectorised numpy.
  The oracle planner uses the same ``step`` as the true simulator.
* ``TwoRoomTask`` draws start/goal pairs and tests success.
* ``TwoRoomEnv`` is the Gymnasium environment over both; its observation is the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

BACKGROUND = np.array([24, 26, 32], dtype=np.float32)
WALL = np.array([150, 150, 160], dtype=np.float32)
AGENT = np.array([240, 80, 60], dtype=np.float32)


@dataclass(frozen=True)
class TwoRoomPhysics:
    """Geometry and motion, in pixels of a ``size`` x ``size`` image.

    The wall spans ``x in [wall_x - wall_width/2, wall_x + wall_width/2]`` over the full height,
    except the door ``y in [door_low, door_high]``. An action in ``[-1, 1]^2`` moves the agent by
    ``max_speed * action`` pixels; walls stop motion along the blocked axis (the agent slides).
    """

    size: int = 64
    wall_x: float = 32.0
    wall_width: float = 4.0
    door_low: float = 25.0
    door_high: float = 39.0
    agent_radius: float = 2.5
    max_speed: float = 2.0

    @property
    def wall_low(self) -> float:
        return self.wall_x - self.wall_width / 2

    @property
    def wall_high(self) -> float:
        return self.wall_x + self.wall_width / 2

    @property
    def door_center(self) -> float:
        return (self.door_low + self.door_high) / 2

    def step(self, pos, action):
        """Positions ``[N, 2]`` and actions ``[N, 2]`` -> next positions ``[N, 2]``.

        numpy arrays or torch tensors (differentiable almost everywhere: the oracle's gradient
        planner descends through it). Axis-separated collision: x moves first, then y. A step
        (<= max_speed) is shorter than the wall plus the agent's diameter, so nothing tunnels.
        """
        xp = _array_module(pos)
        r = self.agent_radius
        velocity = xp.clip(action, -1.0, 1.0) * self.max_speed
        x, y = pos[..., 0], pos[..., 1]
        nx = xp.clip(x + velocity[..., 0], r, self.size - r)
        fits_door = (y - r >= self.door_low) & (y + r <= self.door_high)
        hits_wall = (nx + r > self.wall_low) & (nx - r < self.wall_high) & ~fits_door
        stop = xp.where(x < self.wall_x, self.wall_low - r, self.wall_high + r)
        nx = xp.where(hits_wall, stop, nx)
        ny = xp.clip(y + velocity[..., 1], r, self.size - r)
        in_doorway = (nx + r > self.wall_low) & (nx - r < self.wall_high)
        ny = xp.where(in_doorway, xp.clip(ny, self.door_low + r, self.door_high - r), ny)
        return xp.stack([nx, ny], -1)

    def rollout(self, pos, actions):
        """Positions ``[N, 2]``, actions ``[N, H, 2]`` -> positions after each action ``[N, H, 2]`` (the state
        itself, so this is ``rollout_states`` too)."""
        out = []
        for h in range(actions.shape[1]):
            pos = self.step(pos, actions[:, h])
            out.append(pos)
        return _array_module(pos).stack(out, 1)

    rollout_states = rollout

    def free(self, pos: np.ndarray) -> np.ndarray:
        """Whether each position ``[N, 2]`` is a legal agent position ``[N]`` (inside, not in the wall)."""
        r = self.agent_radius
        x, y = pos[..., 0], pos[..., 1]
        inside = (x >= r) & (x <= self.size - r) & (y >= r) & (y <= self.size - r)
        in_band = (x + r > self.wall_low) & (x - r < self.wall_high)
        in_door = (y - r >= self.door_low) & (y + r <= self.door_high)
        return inside & (~in_band | in_door)

    def room(self, pos: np.ndarray) -> np.ndarray:
        """0 for the left room, 1 for the right, per position ``[N, 2]`` -> ``[N]``."""
        return (pos[..., 0] >= self.wall_x).astype(np.int64)

    def background(self) -> np.ndarray:
        """The static scene ``[size, size, 3]`` float32: floor and wall with its door."""
        centers = np.arange(self.size, dtype=np.float32) + 0.5
        in_wall_x = (centers >= self.wall_low) & (centers <= self.wall_high)
        in_door_y = (centers >= self.door_low) & (centers <= self.door_high)
        wall = in_wall_x[None, :] & ~in_door_y[:, None]  # [y, x]
        return np.where(wall[..., None], WALL, BACKGROUND).astype(np.float32)

    def render(self, pos: np.ndarray) -> np.ndarray:
        """Positions ``[N, 2]`` -> frames ``[N, size, size, 3]`` uint8, anti-aliased agent disc."""
        pos = np.asarray(pos, dtype=np.float32).reshape(-1, 2)
        centers = np.arange(self.size, dtype=np.float32) + 0.5
        dx = centers[None, None, :] - pos[:, 0, None, None]  # [N, 1, W]
        dy = centers[None, :, None] - pos[:, 1, None, None]  # [N, H, 1]
        coverage = np.clip(self.agent_radius + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)[..., None]
        frames = self.background()[None] * (1.0 - coverage) + AGENT * coverage
        return np.rint(frames).astype(np.uint8)


@dataclass(frozen=True)
class TwoRoomTask:
    """Where episodes start, where the goal is, and what counts as success.

    goal_mode: ``"opposite_room"`` puts start and goal in different rooms (every plan must find
    the door, as EB-JEPA evaluates Two Rooms); ``"any"`` draws both anywhere in free space.
    """

    goal_mode: Literal["opposite_room", "any"] = "opposite_room"
    success_radius: float = 4.5

    def sample(self, physics: TwoRoomPhysics, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """-> (start ``[2]``, goal ``[2]``), both free positions."""
        if self.goal_mode == "any":
            return _free_point(physics, rng), _free_point(physics, rng)
        start_room = int(rng.integers(2))
        return _room_point(physics, rng, start_room), _room_point(physics, rng, 1 - start_room)

    def is_success(self, pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.asarray(pos) - np.asarray(goal), axis=-1) <= self.success_radius


def _array_module(array):
    """numpy for arrays, torch for tensors: the physics is written in the subset both share."""
    if type(array).__module__.startswith("torch"):
        import torch

        return torch
    return np


def _room_point(physics: TwoRoomPhysics, rng: np.random.Generator, room: int) -> np.ndarray:
    r = physics.agent_radius
    x_low, x_high = (r, physics.wall_low - r) if room == 0 else (physics.wall_high + r, physics.size - r)
    return np.array([rng.uniform(x_low, x_high), rng.uniform(r, physics.size - r)])


def _free_point(physics: TwoRoomPhysics, rng: np.random.Generator) -> np.ndarray:
    while True:
        point = rng.uniform(physics.agent_radius, physics.size - physics.agent_radius, size=2)
        if physics.free(point[None])[0]:
            return point


class TwoRoomEnv(gym.Env):
    """Gymnasium env ``jepaworld/TwoRoom-v0``.

    Observation: ``[64, 64, 3]`` uint8 frame. Action: ``[2]`` float32 velocity in ``[-1, 1]``.
    ``info``: ``state`` (agent position ``[2]``, pixels), ``goal`` (goal position ``[2]``),
    ``is_success``. Reward 1 on success, else 0; ``terminated`` on success when
    ``terminate_on_success``. Reset is a pure function of the seed.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}
    state_names: ClassVar[tuple[str, ...]] = ("agent_x", "agent_y")

    def __init__(
        self,
        render_mode: str | None = "rgb_array",
        goal_mode: Literal["opposite_room", "any"] = "opposite_room",
        success_radius: float = 4.5,
        terminate_on_success: bool = True,
        physics: TwoRoomPhysics | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.physics = physics or TwoRoomPhysics()
        self.task = TwoRoomTask(goal_mode=goal_mode, success_radius=success_radius)
        self.terminate_on_success = terminate_on_success
        size = self.physics.size
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._pos = np.zeros(2)
        self._goal = np.zeros(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """``options={"goal": [x, y]}`` replaces the drawn goal with a given free position."""
        super().reset(seed=seed)
        self._pos, self._goal = self.task.sample(self.physics, self.np_random)
        if options and options.get("goal") is not None:
            goal = np.asarray(options["goal"], dtype=np.float64)
            if goal.shape != (2,) or not np.all(np.isfinite(goal)) or not self.physics.free(goal[None])[0]:
                raise ValueError(
                    f"TwoRoom reset goal: expected a free position [x, y] inside the {self.physics.size} px "
                    f"arena and outside the wall, got {options['goal']!r}"
                )
            self._goal = goal
        return self._frame(), self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (2,) or not np.all(np.isfinite(action)):
            raise ValueError(f"TwoRoom action: expected 2 finite numbers, got {action!r}")
        self._pos = self.physics.step(self._pos[None], action[None])[0]
        info = self._info()
        success = bool(info["is_success"])
        return self._frame(), float(success), success and self.terminate_on_success, False, info

    def render(self):
        return self._frame() if self.render_mode == "rgb_array" else None

    def goal_observation(self) -> np.ndarray:
        """The frame the agent would see standing on the goal ``[64, 64, 3]`` uint8."""
        return self.render_state(self._goal)

    def render_state(self, state: np.ndarray) -> np.ndarray:
        """The frame of any agent position ``[2]`` (``state``'s layout) ``-> [64, 64, 3]`` uint8."""
        return self.physics.render(np.asarray(state)[None])[0]

    @property
    def state(self) -> np.ndarray:
        return self._pos.copy()

    def set_state(self, pos) -> None:
        """Put the agent at a free position ``[x, y]`` (a disturbance from outside: a push, a teleport)."""
        pos = np.asarray(pos, dtype=np.float64)
        if pos.shape != (2,) or not np.all(np.isfinite(pos)) or not self.physics.free(pos[None])[0]:
            raise ValueError(f"TwoRoom set_state: expected a free position [x, y] outside the wall, got {pos!r}")
        self._pos = pos

    @property
    def goal(self) -> np.ndarray:
        return self._goal.copy()

    @property
    def success_radius(self) -> float:
        """Success is ``info["state"]`` within this many pixels of the goal."""
        return self.task.success_radius

    def scripted_action(self, goal) -> np.ndarray:
        """The scripted solver's action ``[2]`` from the current state towards the goal state ``goal``."""
        from jepaworld.envs.policies import scripted_two_room_action

        return scripted_two_room_action(self.physics, self._pos, goal)

    def _frame(self) -> np.ndarray:
        return self.physics.render(self._pos[None])[0]

    def _info(self) -> dict[str, Any]:
        return {
            "state": self._pos.astype(np.float32),
            "goal": self._goal.astype(np.float32),
            "is_success": bool(self.task.is_success(self._pos, self._goal)),
        }

"""Push-T: a disc agent pushes a T-shaped block to a target pose on a table (pymunk physics).

The standard task's geometry and control, in a 512 x 512 world: the agent (radius 15) follows a PD
controller towards a target point; the T (bar 120 x 30, stem 30 x 90) slides with floor friction, so
it moves only while pushed. Unlike gym-pusht, an action is *relative*: ``a in [-1, 1]^2`` sets the
target ``max_reach * a`` from the agent (translation-invariant dynamics are easier to learn and to
explore), success is the block's pose within ``position_tolerance`` and ``angle_tolerance`` of the
goal's (not 95% area coverage), and frames are drawn anti-aliased at 64 px without pygame or OpenCV.

``info``: ``state`` ``[agent x, agent y, block x, block y, block angle]``, ``goal`` (same layout),
``block`` (the block's pose), ``is_success``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pymunk
from PIL import Image, ImageDraw

from jepaworld.envs.angles import pose_features, wrap_angle

WORLD = 512.0
AGENT_RADIUS = 15.0
#: The T in block coordinates (the bar on top, the stem below), before centring on its centroid.
BAR = np.array([[-60.0, 0.0], [60.0, 0.0], [60.0, 30.0], [-60.0, 30.0]])
STEM = np.array([[-15.0, 30.0], [15.0, 30.0], [15.0, 120.0], [-15.0, 120.0]])
_CENTROID = (BAR.mean(0) * 120 * 30 + STEM.mean(0) * 30 * 90) / (120 * 30 + 30 * 90)
BAR, STEM = BAR - _CENTROID, STEM - _CENTROID

BACKGROUND = (238, 238, 232)
BLOCK = (110, 120, 140)
AGENT = (66, 133, 244)


@dataclass(frozen=True)
class PushTPhysics:
    """Simulation constants (PD gains, sub-steps per env step, reach of one action, floor friction) and the
    oracle planner's simulator over them: ``observe``, ``rollout`` and ``features`` (as ``CubePhysics``)."""

    max_reach: float = 64.0
    k_p: float = 100.0
    k_v: float = 20.0
    dt: float = 0.01
    substeps: int = 10
    friction_force: float = 600.0
    friction_torque: float = 60000.0
    #: Units of the oracle planner's energy (``features``): the task's position and angle tolerances.
    position_scale: float = 20.0
    angle_scale: float = np.pi / 9

    def observe(self, env: PushTEnv) -> np.ndarray:
        """The env's full simulator state ``[10]``: the pose ``[5]``, then agent and block velocities."""
        return env._table.full_state

    def features(self, state):
        """Poses ``[..., 5]`` -> ``[..., 6]``: agent and block position in units of ``position_scale``, the
        block's angle as cosine and sine in units of ``angle_scale`` (what the oracle's energy compares)."""
        return pose_features(state[..., :4], state[..., 4], self.position_scale, self.angle_scale)

    def rollout(self, start, actions) -> np.ndarray:
        """Full states ``[N, 10]`` and env actions ``[N, T, 2]`` -> ``features`` after each action ``[N, T, 6]``
        (the oracle planner's model)."""
        return self.features(self.rollout_states(start, actions))

    def rollout_states(self, start, actions) -> np.ndarray:
        """Full states ``[N, 10]`` and env actions ``[N, T, 2]`` -> poses after each action ``[N, T, 5]`` (the
        env's ``state``): each candidate replayed on a new table."""
        start, actions = np.asarray(start, dtype=np.float64), np.asarray(actions, dtype=np.float64)
        poses = np.empty((*actions.shape[:2], 5))
        for n in range(len(actions)):
            table = PushTTable(self)
            table.set(start[n])
            for t, action in enumerate(actions[n]):
                table.step(action)
                poses[n, t] = table.state
        return poses


class PushTTable:
    """The pymunk scene: walls, the agent disc under PD control, and the T with floor friction.

    Its solver carries contact and joint impulses from one step to the next (warm starting), so a state
    set on a table that has run moves otherwise than the same state on a new one: every reset and every
    oracle candidate starts on a new table, and an episode depends on its seed and actions alone.
    """

    def __init__(self, physics: PushTPhysics) -> None:
        self.physics = physics
        space = pymunk.Space()
        space.gravity = (0.0, 0.0)
        for x0, y0, x1, y1 in ((-50, -50, 562, 5), (-50, 507, 562, 562), (-50, -50, 5, 562), (507, -50, 562, 562)):
            wall = pymunk.Poly.create_box_bb(space.static_body, pymunk.BB(x0, y0, x1, y1))
            wall.friction = 1.0
            space.add(wall)
        # A heavy dynamic disc whose velocity the PD controller sets: walls stop it, and a block caught
        # between it and a wall is pushed out rather than through (a kinematic agent would tunnel it).
        agent = pymunk.Body(10.0, float("inf"))
        agent_shape = pymunk.Circle(agent, AGENT_RADIUS)
        agent_shape.friction = 1.0
        # Mass and moment of a uniform T (areas 3600 and 2700), about its centroid, the body's origin.
        mass = 1.0
        moment = pymunk.moment_for_poly(mass * 4 / 7, BAR.tolist()) + pymunk.moment_for_poly(
            mass * 3 / 7, STEM.tolist()
        )
        block = pymunk.Body(mass, moment)
        shapes = [pymunk.Poly(block, part.tolist()) for part in (BAR, STEM)]
        for shape in shapes:
            shape.friction = 1.0
        # Floor friction (top-down): joints to the static body with zero bias and bounded force.
        pivot = pymunk.PivotJoint(space.static_body, block, (0, 0), (0, 0))
        gear = pymunk.GearJoint(space.static_body, block, 0.0, 1.0)
        pivot.max_bias, pivot.max_force = 0.0, physics.friction_force
        gear.max_bias, gear.max_force = 0.0, physics.friction_torque
        space.add(agent, agent_shape, block, *shapes, pivot, gear)
        self.space, self.agent, self.block = space, agent, block

    def set(self, state: np.ndarray) -> None:
        """A pose ``[5]`` at rest, or a full state ``[10]`` with its velocities."""
        velocities = state[5:10] if len(state) == 10 else np.zeros(5)
        self.agent.position = (float(state[0]), float(state[1]))
        self.agent.velocity = (float(velocities[0]), float(velocities[1]))
        self.block.position = (float(state[2]), float(state[3]))
        self.block.angle = float(state[4])
        self.block.velocity = (float(velocities[2]), float(velocities[3]))
        self.block.angular_velocity = float(velocities[4])
        self.space.reindex_shapes_for_body(self.block)

    @property
    def state(self) -> np.ndarray:
        a, b = self.agent.position, self.block.position
        return np.array([a.x, a.y, b.x, b.y, wrap_angle(self.block.angle)])

    @property
    def full_state(self) -> np.ndarray:
        a, b = self.agent, self.block
        return np.array([*a.position, *b.position, b.angle, *a.velocity, *b.velocity, b.angular_velocity])

    def step(self, action: np.ndarray) -> None:
        """PD control of the agent towards ``max_reach * action`` from where it is, for ``substeps``."""
        p = self.physics
        target = np.clip(np.array(self.agent.position) + p.max_reach * np.clip(action, -1, 1), 20, WORLD - 20)
        self.agent.angular_velocity = 0.0
        for _ in range(p.substeps):
            velocity = np.array(self.agent.velocity)
            acceleration = p.k_p * (target - np.array(self.agent.position)) - p.k_v * velocity
            self.agent.velocity = tuple(velocity + acceleration * p.dt)
            self.space.step(p.dt)


class PushTEnv(gym.Env):
    """Gymnasium env ``jepaworld/PushT-v0``: observation a ``[64, 64, 3]`` uint8 frame, action ``[2]`` in ``[-1, 1]``.

    The env's own goal is the standard target pose ``(256, 256, pi/4)`` of the block; ``reset(options=
    {"goal": state})`` sets another (a state ``[5]``: agent and block). Reset is a pure function of the seed.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}
    state_names: ClassVar[tuple[str, ...]] = ("agent_x", "agent_y", "block_x", "block_y", "block_angle")
    state_angles: ClassVar[tuple[str, ...]] = ("block_angle",)  # radians
    standard_goal: ClassVar[np.ndarray] = np.array([256.0, 400.0, 256.0, 256.0, np.pi / 4])

    def __init__(
        self,
        render_mode: str | None = "rgb_array",
        size: int = 64,
        position_tolerance: float = 20.0,
        angle_tolerance: float = np.pi / 9,
        terminate_on_success: bool = True,
        physics: PushTPhysics | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode, self.size = render_mode, size
        self.position_tolerance, self.angle_tolerance = position_tolerance, angle_tolerance
        self.terminate_on_success = terminate_on_success
        self.physics = dataclasses.replace(
            physics or PushTPhysics(), position_scale=position_tolerance, angle_scale=angle_tolerance
        )
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._goal = self.standard_goal.copy()
        self._table = PushTTable(self.physics)

    # --- simulation -------------------------------------------------------------------------------
    def _set(self, state: np.ndarray) -> None:
        self._table = PushTTable(self.physics)  # nothing carried over from the last episode
        self._table.set(np.asarray(state[:5]))

    @property
    def state(self) -> np.ndarray:
        return self._table.state

    @property
    def goal(self) -> np.ndarray:
        return self._goal.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Agent and block placed at random (apart); ``options={"goal": [5]}`` replaces the standard goal."""
        super().reset(seed=seed)
        rng = self.np_random
        while True:
            agent = rng.uniform(50, 462, size=2)
            block = np.concatenate([rng.uniform(100, 412, size=2), [rng.uniform(-np.pi, np.pi)]])
            if np.linalg.norm(agent - block[:2]) > 90:  # not inside or touching the T
                break
        self._set(np.concatenate([agent, block]))
        self._goal = self.standard_goal.copy()
        if options and options.get("goal") is not None:
            goal = np.asarray(options["goal"], dtype=np.float64).ravel()
            if goal.shape != (5,) or not np.all(np.isfinite(goal)) or np.any(goal[:4] < 0) or np.any(goal[:4] > WORLD):
                raise ValueError(
                    f"PushT reset goal: expected [agent x, agent y, block x, block y, angle] inside the "
                    f"{WORLD:.0f} x {WORLD:.0f} table, got {options['goal']!r}"
                )
            self._goal = goal
        return self._frame(), self._info()

    def step(self, action):
        given = action
        try:
            action = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            action = np.full(1, np.nan)
        if action.shape != (2,) or not np.all(np.isfinite(action)):
            raise ValueError(f"PushT action: expected 2 finite numbers in [-1, 1], got {given!r}")
        self._table.step(action)
        info = self._info()
        success = bool(info["is_success"])
        return self._frame(), float(success), success and self.terminate_on_success, False, info

    def data_policy(self, rng: np.random.Generator):
        """Noisy pushing (``envs.policies.PushingDataPolicy``): ``jepaworld collect`` uses it for this env."""
        from jepaworld.envs.policies import PushingDataPolicy, PushingGeometry

        geometry = PushingGeometry(256.0, (70.0, 100.0), 20.0, 130.0, self.physics.max_reach, 110.0)
        return PushingDataPolicy(self, geometry, rng)

    @staticmethod
    def goal_distance(state: np.ndarray, goal: np.ndarray) -> float:
        """How far the block is from the goal's block, in table units (the final distance in reports)."""
        return float(np.linalg.norm(np.asarray(state)[2:4] - np.asarray(goal)[2:4]))

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> bool:
        """The block within the position and angle tolerances of the goal's block pose."""
        close = np.linalg.norm(state[2:4] - goal[2:4]) <= self.position_tolerance
        return bool(close and abs(wrap_angle(state[4] - goal[4])) <= self.angle_tolerance)

    def _info(self) -> dict[str, Any]:
        state = self.state
        return {
            "state": state.astype(np.float32),
            "goal": self._goal.astype(np.float32),
            "block": state[2:].astype(np.float32),
            "is_success": self.is_success(state, self._goal),
        }

    # --- pictures ---------------------------------------------------------------------------------
    def render(self):
        return self._frame() if self.render_mode == "rgb_array" else None

    def goal_observation(self) -> np.ndarray:
        """The frame of the goal state: agent and block where ``goal`` puts them."""
        return self.render_state(self._goal)

    def render_state(self, state: np.ndarray) -> np.ndarray:
        """The frame of any pose ``[5]`` (``state``'s layout) ``-> [size, size, 3]`` uint8; the env is untouched."""
        return render_push_t(state, self.size)

    def _frame(self) -> np.ndarray:
        return render_push_t(self.state, self.size)


def render_push_t(state: np.ndarray, size: int = 64, supersample: int = 4) -> np.ndarray:
    """A state ``[5]`` -> ``[size, size, 3]`` uint8, drawn at ``supersample`` x the size and box-filtered."""
    scale = size * supersample / WORLD
    image = Image.new("RGB", (size * supersample, size * supersample), BACKGROUND)
    draw = ImageDraw.Draw(image)
    cos, sin = np.cos(state[4]), np.sin(state[4])
    rotation = np.array([[cos, -sin], [sin, cos]])
    for part in (BAR, STEM):
        corners = (part @ rotation.T + state[2:4]) * scale
        draw.polygon([tuple(c) for c in corners], fill=BLOCK)
    x, y, r = state[0] * scale, state[1] * scale, AGENT_RADIUS * scale
    draw.ellipse((x - r, y - r, x + r, y + r), fill=AGENT)
    return np.array(image.reduce(supersample))

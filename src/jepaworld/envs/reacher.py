"""Reacher: Gymnasium's two-link MuJoCo arm (``Reacher-v5``), seen from straight above at 64 px.

The goal is an arm pose, shown as a goal image (the red target of Gymnasium's task is hidden: a
goal image says where to go, a dot in the scene would only disagree with it). Success is arriving and
staying: the fingertip within ``success_radius`` (5 cm; the arm reaches 21 cm) of the goal's fingertip
for ``hold_steps`` (10, 0.2 s) steps in a row. Passing through is not enough: a random flailing arm
passes within 5 cm of the goal in about 70% of 100-step episodes, and stays there 10 steps in about
10% (60 episodes, measured while choosing the test). The env's
own goal puts the fingertip on Gymnasium's random target (the pose from two-link inverse kinematics);
``reset(options={"goal": state})`` takes any reached state instead.

Rendering is headless: ``MUJOCO_GL`` defaults to ``osmesa`` (Debian: ``libosmesa6``) where unset.

``info``: ``state`` ``[fingertip x, fingertip y, shoulder angle, elbow angle]``, ``goal`` (same layout),
``reached`` (within the radius now), ``held_steps`` (how many steps in a row), ``is_success``.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

LINKS = (0.1, 0.11)  # shoulder -> elbow, elbow -> fingertip (Gymnasium's reacher.xml)
TOP_DOWN = {"distance": 0.55, "elevation": -90.0, "azimuth": 90.0, "lookat": np.zeros(3), "trackbodyid": -1}


def inverse_kinematics(point: np.ndarray, elbow: float = 1.0) -> np.ndarray:
    """Joint angles ``[2]`` that put the fingertip at ``point`` ``[2]`` (clipped into reach); ``elbow`` +-1."""
    l1, l2 = LINKS
    distance = float(np.clip(np.linalg.norm(point), abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6))
    cos_elbow = (distance**2 - l1**2 - l2**2) / (2 * l1 * l2)
    q1 = elbow * np.arccos(np.clip(cos_elbow, -1.0, 1.0))
    q0 = np.arctan2(point[1], point[0]) - np.arctan2(l2 * np.sin(q1), l1 + l2 * np.cos(q1))
    return np.array([q0, q1])


def forward_kinematics(joints: np.ndarray) -> np.ndarray:
    l1, l2 = LINKS
    q0, q1 = joints[0], joints[0] + joints[1]
    return np.array([l1 * np.cos(q0) + l2 * np.cos(q1), l1 * np.sin(q0) + l2 * np.sin(q1)])


class ReacherEnv(gym.Env):
    """Gymnasium env ``jepaworld/Reacher-v0``: observation ``[size, size, 3]`` uint8, action ``[2]`` joint torques."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 50}
    state_names: ClassVar[tuple[str, ...]] = ("fingertip_x", "fingertip_y", "shoulder", "elbow")
    state_angles: ClassVar[tuple[str, ...]] = ("shoulder", "elbow")  # radians
    joint_wraps: ClassVar[tuple[bool, ...]] = (True, False)  # the shoulder turns freely, the elbow stops at +-3 rad

    def __init__(
        self,
        render_mode: str | None = "rgb_array",
        size: int = 64,
        success_radius: float = 0.05,
        terminate_on_success: bool = True,
        hold_steps: int = 10,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if hold_steps < 1:
            raise ValueError(f"hold_steps must be >= 1 (1: success the moment the fingertip arrives), got {hold_steps}")
        os.environ.setdefault("MUJOCO_GL", "osmesa")
        try:
            from gymnasium.envs.mujoco.reacher_v5 import ReacherEnv as GymnasiumReacher
        except ImportError as err:  # mujoco missing
            raise ImportError(f"jepaworld/Reacher-v0 needs MuJoCo: pip install mujoco ({err})") from err
        self._sim = GymnasiumReacher(render_mode="rgb_array", width=size, height=size, default_camera_config=TOP_DOWN)
        # Free the OpenGL context before interpreter shutdown (unclosed, osmesa complains at exit).
        self._finalizer = weakref.finalize(self, self._sim.close)
        model = self._sim.model
        self._sim.model.geom_rgba[model.geom("target").id, 3] = 0.0  # the goal image shows the goal instead
        self.render_mode, self.size = render_mode, size
        self.success_radius, self.terminate_on_success = success_radius, terminate_on_success
        self.hold_steps, self._held = hold_steps, 0
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._goal = np.zeros(4)

    @property
    def state(self) -> np.ndarray:
        qpos = self._sim.data.qpos
        return np.concatenate([self._sim.get_body_com("fingertip")[:2], qpos[:2]])

    @property
    def joints(self) -> np.ndarray:
        return self._sim.data.qpos[:2].copy()

    @property
    def joint_velocities(self) -> np.ndarray:
        return self._sim.data.qvel[:2].copy()

    def sample_pose(self, rng: np.random.Generator) -> np.ndarray:
        """Joint angles ``[2]`` that put the fingertip at a random point of the arm's reach (either elbow)."""
        radius, angle = rng.uniform(0.03, sum(LINKS) - 0.01), rng.uniform(-np.pi, np.pi)
        point = radius * np.array([np.cos(angle), np.sin(angle)])
        return inverse_kinematics(point, 1.0 if rng.random() < 0.5 else -1.0)

    def data_policy(self, rng: np.random.Generator):
        """Noisy reaching (``envs.policies.ReachingDataPolicy``): arrive at random poses and stay a while."""
        from jepaworld.envs.policies import ReachingDataPolicy

        return ReachingDataPolicy(self, rng, wraps=self.joint_wraps)

    def scripted_action(self, goal) -> np.ndarray:
        """The scripted solver: PD control of the joints to the goal's pose (the data policy, without noise)."""
        from jepaworld.envs.policies import joint_pd_action

        action = joint_pd_action(self, np.asarray(goal)[2:4], self.joint_wraps)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    @property
    def goal(self) -> np.ndarray:
        return self._goal.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Gymnasium's reset (arm near straight, random target); the goal: the target's pose, or ``options["goal"]``."""
        super().reset(seed=seed)
        self._sim.reset(seed=int(self.np_random.integers(2**31)))
        target = self._sim.data.qpos[2:4].copy()
        elbow = 1.0 if self.np_random.random() < 0.5 else -1.0
        self._goal = np.concatenate([target, inverse_kinematics(target, elbow)])
        self._goal[:2] = forward_kinematics(self._goal[2:])  # the reachable point nearest the target
        if options and options.get("goal") is not None:
            goal = np.asarray(options["goal"], dtype=np.float64).ravel()
            if goal.shape != (4,) or not np.all(np.isfinite(goal)):
                raise ValueError(
                    f"Reacher reset goal: expected [fingertip x, fingertip y, shoulder, elbow], got {options['goal']!r}"
                )
            self._goal = goal
        self._held = int(self._reached())
        return self._frame(), self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (2,) or not np.all(np.isfinite(action)):
            raise ValueError(f"Reacher action: expected 2 finite torques in [-1, 1], got {action!r}")
        self._sim.step(np.clip(action, -1.0, 1.0))
        self._held = self._held + 1 if self._reached() else 0
        info = self._info()
        success = bool(info["is_success"])
        return self._frame(), float(success), success and self.terminate_on_success, False, info

    @staticmethod
    def goal_distance(state: np.ndarray, goal: np.ndarray) -> float:
        return float(np.linalg.norm(np.asarray(state)[:2] - np.asarray(goal)[:2]))

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> bool:
        """Whether ``state`` has the fingertip within the radius of ``goal``'s (``info["is_success"]`` also
        asks that it stay there ``hold_steps`` steps; a state alone cannot say how long it has been there)."""
        return self.goal_distance(state, goal) <= self.success_radius

    def _reached(self) -> bool:
        return self.is_success(self.state, self._goal)

    def _info(self) -> dict[str, Any]:
        return {
            "state": self.state.astype(np.float32),
            "goal": self._goal.astype(np.float32),
            "reached": self._reached(),
            "held_steps": self._held,
            "is_success": self._held >= self.hold_steps,
        }

    def render(self):
        return self._frame() if self.render_mode == "rgb_array" else None

    def goal_observation(self) -> np.ndarray:
        """The frame with the arm in the goal pose (the simulator is put back afterwards)."""
        data = self._sim.data
        qpos, qvel = data.qpos.copy(), data.qvel.copy()
        self._sim.set_state(np.concatenate([self._goal[2:], qpos[2:]]), qvel)
        frame = self._frame()
        self._sim.set_state(qpos, qvel)
        return frame

    def _frame(self) -> np.ndarray:
        return np.ascontiguousarray(self._sim.render())

    def close(self) -> None:
        self._finalizer()

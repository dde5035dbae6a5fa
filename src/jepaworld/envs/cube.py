"""Cube: push a cube to a goal pose on a table, seen by a camera from above and in front (MuJoCo, 3-D).

A blue pusher (a cylinder on two slide joints, driven by velocity actuators) moves in the table's
plane; the cube (6 cm, a free body: it slides, turns and can tip) has one red face, and the half of
its top toward that face is red too, so its yaw is visible at 64 px (``TOP_MARKERS``). The camera
looks down at about 55 degrees from the front: depth and height are in perspective, not on a plane
as in Push-T, so the model must learn the 3-D scene to plan in it.

Success: the cube's centre within ``position_tolerance`` (2 cm) of the goal's and its yaw within
``angle_tolerance`` (20 degrees) of the goal's. ``info``: ``state`` ``[pusher x, pusher y, cube x,
cube y, cube z, cube yaw]`` (metres, radians), ``goal`` (same layout), ``is_success``.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from jepaworld.envs.angles import pose_features, wrap_angle

HALF = 0.03  # the cube's half side
ARENA = 0.25  # walls at +-ARENA
XML = f"""
<mujoco model="jepaworld-cube">
  <option timestep="0.005"/>
  <visual><global offwidth="256" offheight="256"/><quality shadowsize="0"/></visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1=".82 .82 .78" rgb2=".74 .74 .70" width="64" height="64"/>
    <material name="grid" texture="grid" texrepeat="5 5"/>
  </asset>
  <worldbody>
    <light pos="0 -0.3 1.2" dir="0 0.25 -1" directional="true" diffuse=".8 .8 .8"/>
    <geom name="table" type="plane" size="{ARENA + 0.05} {ARENA + 0.05} 0.05" material="grid" friction="0.5"/>
    <geom type="box" pos="0 {ARENA + 0.01} 0.02" size="{ARENA + 0.02} 0.01 0.02" rgba=".45 .45 .5 1"/>
    <geom type="box" pos="0 -{ARENA + 0.01} 0.02" size="{ARENA + 0.02} 0.01 0.02" rgba=".45 .45 .5 1"/>
    <geom type="box" pos="{ARENA + 0.01} 0 0.02" size="0.01 {ARENA} 0.02" rgba=".45 .45 .5 1"/>
    <geom type="box" pos="-{ARENA + 0.01} 0 0.02" size="0.01 {ARENA} 0.02" rgba=".45 .45 .5 1"/>
    <body name="pusher" pos="0 0 0.025">
      <joint name="px" type="slide" axis="1 0 0" range="-{ARENA - 0.02} {ARENA - 0.02}" limited="true"/>
      <joint name="py" type="slide" axis="0 1 0" range="-{ARENA - 0.02} {ARENA - 0.02}" limited="true"/>
      <geom type="cylinder" size="0.018 0.025" rgba=".2 .4 .9 1" mass="2" friction="0.5"/>
    </body>
    <body name="cube" pos="0.1 0 {HALF}">
      <freejoint name="cube"/>
      <geom type="box" size="{HALF} {HALF} {HALF}" rgba=".95 .75 .2 1" mass="0.2" friction="0.5"/>
      <geom type="box" pos="{HALF - 0.001} 0 0" size="0.0015 {HALF * 0.9} {HALF * 0.9}" rgba=".85 .15 .1 1"
            contype="0" conaffinity="0" mass="0"/>
      TOP_MARKER
    </body>
    <camera name="view" pos="0 -0.36 0.56" xyaxes="1 0 0 0 0.82 0.57" fovy="55"/>
  </worldbody>
  <actuator>
    <velocity joint="px" kv="40" ctrlrange="-1 1" forcerange="-40 40"/>
    <velocity joint="py" kv="40" ctrlrange="-1 1" forcerange="-40 40"/>
  </actuator>
</mujoco>
"""

#: What the cube's top shows of its yaw, beside the red face. ``half``: the half of the top toward the
#: red face is red, a blob about 3 px across at 64 px, whose place beside the yellow half is the yaw.
#: ``stripe`` (``Cube-v0``): a 1 cm red stripe from the centre to the red face, about 1 px wide at 64 px;
#: the world models trained on it left the yaw out of their latents.
TOP_MARKERS = {
    "half": f'<geom type="box" pos="{HALF * 0.5} 0 {HALF - 0.001}" size="{HALF * 0.5} {HALF * 0.95} 0.0015"',
    "stripe": f'<geom type="box" pos="{HALF * 0.45} 0 {HALF - 0.001}" size="{HALF * 0.5} 0.005 0.0015"',
}


def cube_xml(marker: str) -> str:
    """The scene with the top marker ``marker`` (a key of ``TOP_MARKERS``)."""
    if marker not in TOP_MARKERS:
        raise ValueError(f"Cube marker must be one of {sorted(TOP_MARKERS)}, got {marker!r}")
    top = TOP_MARKERS[marker] + ' rgba=".85 .15 .1 1" contype="0" conaffinity="0" mass="0"/>'
    return XML.replace("TOP_MARKER", top)


def _pose(qpos: np.ndarray) -> np.ndarray:
    """MuJoCo positions ``[..., nq]`` -> the state ``[..., 6]``: pusher x, y, cube x, y, z, and the cube's yaw
    (from its unit quaternion w, x, y, z)."""
    w, x, y, z = np.moveaxis(qpos[..., 5:9], -1, 0)
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.concatenate([qpos[..., :5], yaw[..., None]], -1)


class CubePhysics:
    """The simulator behind the oracle planner: open-loop rollouts of many action sequences at once
    (``mujoco.rollout``), from the env's full physics state, read out as task-scaled features.

    ``features(state [..., 6]) -> [..., 6]``: pusher and cube position in units of the position tolerance,
    the cube's yaw as cosine and sine in units of the angle tolerance, so that a squared distance of 1 is
    about one tolerance off. The planner's energy compares these where the world model compares latents.
    """

    def __init__(self, env: CubeEnv) -> None:
        import mujoco
        import mujoco.rollout

        self._mujoco, self._rollout = mujoco, mujoco.rollout.rollout
        self.model, self._data = env.model, mujoco.MjData(env.model)
        self.substeps, self.max_speed = env.substeps, env.max_speed
        self.position_scale, self.angle_scale = env.position_tolerance, env.angle_tolerance
        self._spec = mujoco.mjtState.mjSTATE_FULLPHYSICS

    def observe(self, env: CubeEnv) -> np.ndarray:
        """The env's full physics state (positions, velocities, time) -> ``[nstate]``."""
        state = np.empty(self._mujoco.mj_stateSize(self.model, self._spec))
        self._mujoco.mj_getState(self.model, env.data, state, self._spec)
        return state

    def features(self, state):
        """States ``[..., 6]`` (``CubeEnv.state`` layout; numpy or torch) -> features ``[..., 6]``."""
        return pose_features(state[..., [0, 1, 2, 3]], state[..., 5], self.position_scale, self.angle_scale)

    def rollout(self, start: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Full states ``[N, nstate]`` and env actions ``[N, T, 2]`` -> features after each action ``[N, T, 6]``."""
        return self.features(self.rollout_states(start, actions))

    def rollout_states(self, start: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Full states ``[N, nstate]`` and env actions ``[N, T, 2]`` -> poses after each action ``[N, T, 6]`` (the
        env's ``state`` layout)."""
        control = np.repeat(self.max_speed * np.clip(np.asarray(actions, dtype=np.float64), -1, 1), self.substeps, 1)
        states, _ = self._rollout(self.model, self._data, np.asarray(start, dtype=np.float64), control)
        qpos = states[:, self.substeps - 1 :: self.substeps, 1 : 1 + self.model.nq]  # after time, per env step
        return _pose(qpos)


class CubeEnv(gym.Env):
    """Gymnasium env ``jepaworld/Cube-v1`` (``Cube-v0``: ``marker="stripe"``): observation ``[size, size, 3]``
    uint8, action ``[2]`` pusher velocity."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}
    state_names: ClassVar[tuple[str, ...]] = ("pusher_x", "pusher_y", "cube_x", "cube_y", "cube_z", "cube_yaw")
    state_angles: ClassVar[tuple[str, ...]] = ("cube_yaw",)  # radians

    def __init__(
        self,
        render_mode: str | None = "rgb_array",
        size: int = 64,
        position_tolerance: float = 0.02,
        angle_tolerance: float = np.pi / 9,
        terminate_on_success: bool = True,
        max_speed: float = 0.3,
        substeps: int = 10,
        marker: str = "half",
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        os.environ.setdefault("MUJOCO_GL", "osmesa")
        import mujoco

        self._mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_string(cube_xml(marker))
        self.data = mujoco.MjData(self.model)
        self._renderer = mujoco.Renderer(self.model, size, size)
        self._finalizer = weakref.finalize(self, self._renderer.close)
        self.render_mode, self.size, self.marker = render_mode, size, marker
        self.position_tolerance, self.angle_tolerance = position_tolerance, angle_tolerance
        self.terminate_on_success, self.max_speed, self.substeps = terminate_on_success, max_speed, substeps
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._goal = np.zeros(6)
        self.physics = CubePhysics(self)

    # --- state ------------------------------------------------------------------------------------
    @property
    def state(self) -> np.ndarray:
        return _pose(self.data.qpos)

    @property
    def goal(self) -> np.ndarray:
        return self._goal.copy()

    def _set(self, state: np.ndarray) -> None:
        """A new episode's start (``_place``), nothing carried over from before: MuJoCo's solver warm-starts
        from the last step's accelerations, so an episode would otherwise depend on the one before it."""
        self._mujoco.mj_resetData(self.model, self.data)
        self._place(state)

    def _place(self, state: np.ndarray) -> None:
        """Pusher at ``state[:2]``, the cube upright at ``state[2:4]`` turned by ``state[5]``; at rest."""
        qpos = np.zeros(self.model.nq)
        qpos[:2], qpos[2:4], qpos[4] = state[:2], state[2:4], HALF
        qpos[5:9] = [np.cos(state[5] / 2), 0.0, 0.0, np.sin(state[5] / 2)]
        self.data.qpos[:], self.data.qvel[:], self.data.ctrl[:] = qpos, 0.0, 0.0
        self._mujoco.mj_forward(self.model, self.data)

    def _sample(self, rng: np.random.Generator) -> np.ndarray:
        while True:
            pusher, cube = rng.uniform(-0.2, 0.2, 2), rng.uniform(-0.15, 0.15, 2)
            if np.linalg.norm(pusher - cube) > 0.08:
                return np.concatenate([pusher, cube, [HALF, rng.uniform(-np.pi, np.pi)]])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Pusher and cube placed at random, apart; the goal a random pose too, or ``options["goal"]``."""
        super().reset(seed=seed)
        self._set(self._sample(self.np_random))
        self._goal = self._sample(self.np_random)
        if options and options.get("goal") is not None:
            goal = np.asarray(options["goal"], dtype=np.float64).ravel()
            if goal.shape != (6,) or not np.all(np.isfinite(goal)) or np.any(np.abs(goal[:4]) > ARENA):
                raise ValueError(
                    f"Cube reset goal: expected [pusher x, pusher y, cube x, cube y, cube z, yaw] on the table "
                    f"(|x|, |y| <= {ARENA}), got {options['goal']!r}"
                )
            self._goal = goal
        return self._frame(), self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (2,) or not np.all(np.isfinite(action)):
            raise ValueError(f"Cube action: expected 2 finite velocities in [-1, 1], got {action!r}")
        self.data.ctrl[:] = self.max_speed * np.clip(action, -1.0, 1.0)
        self._mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        info = self._info()
        success = bool(info["is_success"])
        return self._frame(), float(success), success and self.terminate_on_success, False, info

    @staticmethod
    def goal_distance(state: np.ndarray, goal: np.ndarray) -> float:
        return float(np.linalg.norm(np.asarray(state)[2:4] - np.asarray(goal)[2:4]))

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> bool:
        yaw = float(wrap_angle(state[5] - goal[5]))
        return self.goal_distance(state, goal) <= self.position_tolerance and abs(yaw) <= self.angle_tolerance

    def _info(self) -> dict[str, Any]:
        state = self.state
        return {
            "state": state.astype(np.float32),
            "goal": self._goal.astype(np.float32),
            "is_success": self.is_success(state, self._goal),
        }

    def data_policy(self, rng: np.random.Generator):
        """Noisy pushing (``envs.policies.PushingDataPolicy``) in metres."""
        from jepaworld.envs.policies import PushingDataPolicy, PushingGeometry

        reach = self.max_speed * self.substeps * self.model.opt.timestep
        return PushingDataPolicy(self, PushingGeometry(0.0, (0.06, 0.09), 0.012, 0.12, reach, 0.08), rng)

    # --- pictures ---------------------------------------------------------------------------------
    def render(self):
        return self._frame() if self.render_mode == "rgb_array" else None

    def goal_observation(self) -> np.ndarray:
        """The frame of the goal pose."""
        return self.render_state(self._goal)

    def render_state(self, state: np.ndarray) -> np.ndarray:
        """The frame of any pose ``[6]`` (``state``'s layout; the cube drawn upright) ``-> [size, size, 3]`` uint8;
        the simulator is put back afterwards."""
        qpos, qvel, ctrl = self.data.qpos.copy(), self.data.qvel.copy(), self.data.ctrl.copy()
        self._place(state)
        frame = self._frame()
        self.data.qpos[:], self.data.qvel[:], self.data.ctrl[:] = qpos, qvel, ctrl
        self._mujoco.mj_forward(self.model, self.data)
        return frame

    def _frame(self) -> np.ndarray:
        self._renderer.update_scene(self.data, camera="view")
        return self._renderer.render().copy()

    def close(self) -> None:
        self._finalizer()

"""Environments: registered with Gymnasium on import of ``jepaworld``."""

import gymnasium as gym

from jepaworld.envs.two_room import TwoRoomEnv, TwoRoomPhysics, TwoRoomTask

TWO_ROOM_ID = "jepaworld/TwoRoom-v0"
TWO_ROOM_MAX_STEPS = 200

#: stable-worldmodel's documented ``swm/TwoRoom-v1`` (224 px arena, agent radius 7, speed 10.5 px per
#: step, success within 16 px) scaled to our 64 px frames; LeWM evaluates it with goals 25 steps ahead
#: in a data trajectory and a 50-step budget (``jepaworld bench two-room-swm``).
SWM_TWO_ROOM_ID = "jepaworld/TwoRoom-swm-v0"
SWM_SCALE = 64 / 224

if TWO_ROOM_ID not in gym.registry:
    gym.register(id=TWO_ROOM_ID, entry_point="jepaworld.envs.two_room:TwoRoomEnv", max_episode_steps=TWO_ROOM_MAX_STEPS)
if SWM_TWO_ROOM_ID not in gym.registry:
    gym.register(
        id=SWM_TWO_ROOM_ID,
        entry_point="jepaworld.envs.two_room:TwoRoomEnv",
        max_episode_steps=TWO_ROOM_MAX_STEPS,
        kwargs={
            "physics": TwoRoomPhysics(agent_radius=7 * SWM_SCALE, max_speed=10.5 * SWM_SCALE),
            "success_radius": 16 * SWM_SCALE,
        },
    )

PUSH_T_ID = "jepaworld/PushT-v0"
PUSH_T_MAX_STEPS = 300
if PUSH_T_ID not in gym.registry:
    gym.register(id=PUSH_T_ID, entry_point="jepaworld.envs.push_t:PushTEnv", max_episode_steps=PUSH_T_MAX_STEPS)

REACHER_ID = "jepaworld/Reacher-v0"
if REACHER_ID not in gym.registry:
    gym.register(id=REACHER_ID, entry_point="jepaworld.envs.reacher:ReacherEnv", max_episode_steps=200)

CUBE_ID = "jepaworld/Cube-v1"
#: The first Cube: the same scene with a thin stripe on top for the yaw (``CubeEnv(marker="stripe")``),
#: kept so that checkpoints and figures made on it can be re-run.
CUBE_V0_ID = "jepaworld/Cube-v0"
for env_id, marker in ((CUBE_ID, "half"), (CUBE_V0_ID, "stripe")):
    if env_id not in gym.registry:
        gym.register(
            id=env_id, entry_point="jepaworld.envs.cube:CubeEnv", max_episode_steps=200, kwargs={"marker": marker}
        )

#: Older versions kept on purpose (their figures and checkpoints): making one shows no Gymnasium
#: "out of date" warning, since the README's own recipes name them.
KEPT_VERSIONS = frozenset({CUBE_V0_ID})

#: Keyword arguments ``jepaworld collect`` gives an env: the data policy wanders the whole arena
#: instead of stopping at the evaluation goal.
COLLECT_KWARGS = {
    **{env_id: {"goal_mode": "any", "terminate_on_success": False} for env_id in (TWO_ROOM_ID, SWM_TWO_ROOM_ID)},
    PUSH_T_ID: {"terminate_on_success": False},
    REACHER_ID: {"terminate_on_success": False},
    **{env_id: {"terminate_on_success": False} for env_id in (CUBE_ID, CUBE_V0_ID)},
}

__all__ = [
    "COLLECT_KWARGS",
    "CUBE_ID",
    "CUBE_V0_ID",
    "KEPT_VERSIONS",
    "PUSH_T_ID",
    "PUSH_T_MAX_STEPS",
    "REACHER_ID",
    "SWM_TWO_ROOM_ID",
    "TWO_ROOM_ID",
    "TWO_ROOM_MAX_STEPS",
    "TwoRoomEnv",
    "TwoRoomPhysics",
    "TwoRoomTask",
]

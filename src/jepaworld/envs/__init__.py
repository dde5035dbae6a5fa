"""Environments: registered with Gymnasium on import of ``jepaworld``."""

import gymnasium as gym

from jepaworld.envs.two_room import TwoRoomEnv, TwoRoomPhysics, TwoRoomTask

TWO_ROOM_ID = "jepaworld/TwoRoom-v0"
TWO_ROOM_MAX_STEPS = 200

if TWO_ROOM_ID not in gym.registry:
    gym.register(id=TWO_ROOM_ID, entry_point="jepaworld.envs.two_room:TwoRoomEnv", max_episode_steps=TWO_ROOM_MAX_STEPS)

__all__ = ["TWO_ROOM_ID", "TWO_ROOM_MAX_STEPS", "TwoRoomEnv", "TwoRoomPhysics", "TwoRoomTask"]

"""Roll out the data policy in an environment and write the episodes to disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from jepaworld.config import check, option
from jepaworld.data.episodes import EpisodeWriter
from jepaworld.envs import TWO_ROOM_ID
from jepaworld.envs.policies import MomentumRandomPolicy

#: Training episodes use reset seeds below this; evaluation pairs use seeds at or above it,
#: so a start/goal pair is never drawn from a training episode.
HELD_OUT_SEED_BASE = 2**31


@dataclass(frozen=True)
class CollectConfig:
    """Collect episodes with the momentum-random data policy."""

    env: str = option(TWO_ROOM_ID, "Gymnasium env id to collect from")
    episodes: int = option(400, "number of episodes")
    steps: int = option(100, "env steps per episode (frames per episode = steps + 1)")
    seed: int = option(0, "collection seed: episode i resets with seed * 100000 + i")
    momentum: float = option(0.9, "momentum beta of the random data policy, in [0, 1)")
    out: str = option("data/two-room.h5", "episode file to write")
    overwrite: bool = option(False, "replace an existing file at --out")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        check(self.episodes >= 1, f"episodes must be >= 1, got {self.episodes}")
        check(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        check(
            self.seed >= 0 and (self.seed + 1) * 100_000 <= HELD_OUT_SEED_BASE,
            f"seed must be in [0, {HELD_OUT_SEED_BASE // 100_000 - 1}] so training seeds stay below "
            f"the held-out evaluation seeds, got {self.seed}",
        )
        check(self.episodes <= 100_000, f"at most 100000 episodes per seed, got {self.episodes}")
        check(0.0 <= self.momentum < 1.0, f"momentum must be in [0, 1), got {self.momentum}")


def make_env(env_id: str, **kwargs) -> gym.Env:
    """``gym.make`` with a clear error for ids that are not registered."""
    import jepaworld.envs  # noqa: F401  (registers jepaworld's envs)

    if env_id not in gym.registry:
        raise ValueError(
            f"unknown environment {env_id!r}; registered jepaworld envs: "
            f"{sorted(k for k in gym.registry if k.startswith('jepaworld/'))}"
        )
    return gym.make(env_id, **kwargs)


def collect(config: CollectConfig) -> Path:
    """Write ``config.episodes`` episodes to ``config.out`` -> the path written."""
    env = make_env(config.env, goal_mode="any", terminate_on_success=False, max_episode_steps=config.steps + 1)
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"{config.env}: collection needs a Box action space, got {space}")
    obs, info = env.reset(seed=config.seed * 100_000)
    state_dim = int(np.asarray(info.get("state", [])).size)
    writer = EpisodeWriter(
        config.out,
        frame_shape=obs.shape,
        action_dim=space.shape[0],
        state_dim=state_dim,
        env_id=config.env,
        action_low=space.low,
        action_high=space.high,
        seed=config.seed,
        extra={
            "steps": config.steps,
            "momentum": config.momentum,
            "state_names": list(getattr(env.unwrapped, "state_names", ())),
        },
        overwrite=config.overwrite,
    )
    with writer:
        for i in tqdm(range(config.episodes), desc="collect", unit="ep", disable=not config.progress):
            episode_seed = config.seed * 100_000 + i
            policy = MomentumRandomPolicy(
                space.low, space.high, beta=config.momentum, rng=np.random.default_rng(episode_seed)
            )
            obs, info = env.reset(seed=episode_seed)
            frames, actions, states = [obs], [], [info.get("state")]
            for _ in range(config.steps):
                action = policy()
                obs, _, _, _, info = env.step(action)
                frames.append(obs)
                actions.append(action)
                states.append(info.get("state"))
            writer.add_episode(
                np.stack(frames),
                np.stack(actions),
                np.stack(states).astype(np.float32) if state_dim else None,
                episode_seed,
            )
    env.close()
    return writer.path

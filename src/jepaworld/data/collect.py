"""Roll out the data policy in an environment and write the episodes to disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jepaworld.config import check, option
from jepaworld.data.episodes import EpisodeWriter
from jepaworld.envs import COLLECT_KWARGS, TWO_ROOM_ID
from jepaworld.envs.adapter import EnvError, info_state, make_env, parse_env_kwargs
from jepaworld.envs.policies import data_policy

#: Training episodes use reset seeds below this; evaluation pairs use seeds at or above it,
#: so a start/goal pair is never drawn from a training episode.
HELD_OUT_SEED_BASE = 2**31


@dataclass(frozen=True)
class CollectConfig:
    """Collect episodes with the env's data policy (momentum-random unless the env brings its own)."""

    env: str = option(TWO_ROOM_ID, "a registered Gymnasium id, MODULE:CLASS or path/to/file.py:CLASS")
    env_kwargs: str = option("{}", "JSON object of keyword arguments for the env, e.g. '{\"width\": 128}'")
    image_size: int = option(64, "frames are centre-cropped and resized to this many pixels square")
    state_key: str = option("state", "info key stored as /state (for probes and diagnostics); skipped if absent")
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
        check(self.image_size >= 8, f"image_size must be >= 8, got {self.image_size}")
        parse_env_kwargs(self.env_kwargs)


def collect(config: CollectConfig) -> Path:
    """Write ``config.episodes`` episodes to ``config.out`` -> the path written."""
    kwargs = parse_env_kwargs(config.env_kwargs)  # recorded, so that eval makes the same env
    env = make_env(
        config.env,
        config.image_size,
        max_episode_steps=config.steps + 1,
        **COLLECT_KWARGS.get(config.env, {}),
        **kwargs,
    )
    space = env.action_space
    obs, info = env.reset(seed=config.seed * 100_000)
    if config.state_key != "state" and config.state_key not in info:
        raise EnvError(f"{config.env}: reset info has no {config.state_key!r} (--state-key); its keys: {sorted(info)}")
    state_dim = info_state(info, config.state_key).size if config.state_key in info else 0
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
            "state_key": config.state_key if state_dim else None,
            "state_names": list(getattr(env.unwrapped, "state_names", ()))
            or [f"{config.state_key}[{i}]" for i in range(state_dim)],
            "state_angles": list(getattr(env.unwrapped, "state_angles", ())),
            "env_kwargs": kwargs,
        },
        overwrite=config.overwrite,
    )
    with writer:
        for i in tqdm(range(config.episodes), desc="collect", unit="ep", disable=not config.progress):
            episode_seed = config.seed * 100_000 + i
            policy = data_policy(env, np.random.default_rng(episode_seed), config.momentum)
            obs, info = env.reset(seed=episode_seed)
            frames, actions, states = [obs], [], [_state(info, config.state_key, state_dim)]
            for _ in range(config.steps):
                action = policy()
                obs, _, terminated, truncated, info = env.step(action)
                frames.append(obs)
                actions.append(action)
                states.append(_state(info, config.state_key, state_dim))
                if terminated or truncated:  # an env that ends early gives a shorter episode
                    break
            writer.add_episode(
                np.stack(frames),
                np.stack(actions),
                np.stack(states).astype(np.float32) if state_dim else None,
                episode_seed,
            )
    env.close()
    return writer.path


def _state(info: dict, key: str, state_dim: int) -> np.ndarray | None:
    if not state_dim:
        return None
    state = info_state(info, key)
    if state.size != state_dim:
        raise EnvError(f"info[{key!r}] changed size from {state_dim} to {state.size} within an episode")
    return state

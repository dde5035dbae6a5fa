"""Roll out a policy in an environment and write the episodes to disk: the env's data policy or
momentum-random actions here, or a planner with a world model (``--policy planner``, built by
``jepaworld.eval.planned``)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from jepaworld.config import check, option
from jepaworld.data.episodes import EpisodeWriter
from jepaworld.envs import COLLECT_KWARGS, TWO_ROOM_ID
from jepaworld.envs.adapter import EnvError, info_state, make_env, parse_env_kwargs
from jepaworld.envs.policies import data_policy, random_policy
from jepaworld.planning.metric import check_metric_options

#: Training episodes use reset seeds below this; evaluation pairs use seeds at or above it,
#: so a start/goal pair is never drawn from a training episode.
HELD_OUT_SEED_BASE = 2**31
#: Who acts while collecting: the env's data policy, momentum-random actions, or MPC with a world model
#: (``eval.planned``).
POLICIES = ("data", "random", "planner")

#: ``start(seed) -> (first frame, info, act)``: resets the env for one episode; ``act(frame) -> action``.
EpisodeStart = Callable[[int], tuple[np.ndarray, dict[str, Any], Callable[[np.ndarray], np.ndarray]]]


@dataclass(frozen=True)
class CollectConfig:
    """Collect episodes with the env's data policy (momentum-random unless the env brings its own), or a planner."""

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
    workers: int = option(1, "processes rolling out episodes side by side, each with its own env (same file)")
    policy: str = option(
        "data",
        "who acts: 'data' (the env's data policy), 'random' (momentum-random actions, --momentum, even where the "
        "env has a data policy: states its data policy seldom visits, such as the agent pressed against a wall) or "
        "'planner' (MPC with --checkpoint's world model, each episode towards a goal --goal-offset data-policy steps "
        "ahead: the states and actions the planner itself visits)",
    )
    checkpoint: str = option("", "--policy planner: the checkpoint (or run directory) it plans with")
    goal_offset: int = option(25, "--policy planner: each goal is where the data policy goes in this many steps")
    replan_every: int = option(1, "--policy planner: model steps executed before re-planning (as eval's)")
    plan_context: int = option(1, "--policy planner: latents a plan starts from (1..history; as eval's)")
    plan_blocks: bool = option(False, "--policy planner: plan each model step's env actions one by one (as eval's)")
    metric: str = option("latent", "--policy planner: latent distance the energy measures, latent or steps (as eval's)")
    metric_data: str = option("", "--policy planner: episode file the steps metric is measured on (as eval's)")
    metric_shrink: float = option(0.1, "--policy planner: the steps metric's shrink toward its mean (as eval's)")

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
        check(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        check(self.policy in POLICIES, f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        check(
            (self.policy == "planner") == bool(self.checkpoint),
            "--policy planner plans with a world model: give it --checkpoint RUN"
            if self.policy == "planner"
            else f"--checkpoint {self.checkpoint} is the planner's world model: add --policy planner",
        )
        check(self.goal_offset >= 1, f"goal_offset must be >= 1, got {self.goal_offset}")
        check(self.replan_every >= 1, f"replan_every must be >= 1, got {self.replan_every}")
        check(self.plan_context >= 1, f"plan_context must be >= 1, got {self.plan_context}")
        check_metric_options(self.metric, self.metric_shrink)
        parse_env_kwargs(self.env_kwargs)


@dataclass(frozen=True)
class DataPolicy:
    """The env's data policy as an episode policy: ``DataPolicy(momentum)(env) -> EpisodeStart``;
    ``random``: momentum-random actions instead, whether or not the env has a data policy of its own."""

    momentum: float
    random: bool = False

    def __call__(self, env) -> EpisodeStart:
        def start(seed: int):
            rng = np.random.default_rng(seed)
            policy = random_policy(env, rng, self.momentum) if self.random else data_policy(env, rng, self.momentum)
            obs, info = env.reset(seed=seed)
            return obs, info, lambda frame: policy()

        return start


def collect(config: CollectConfig, episode_policy: Callable[[Any], EpisodeStart] | None = None) -> Path:
    """Write ``config.episodes`` episodes to ``config.out`` -> the path written.

    ``episode_policy(env) -> EpisodeStart`` acts (built once per process, picklable for ``workers``);
    default: the env's data policy. ``--policy planner`` needs one: ``jepaworld.eval.planned.collect_planned``
    passes it. Episode ``i`` depends only on its seed, so ``workers`` processes (each with its own env) write
    the same file as one: they are written in episode order, each as soon as it and those before it are done.
    """
    if episode_policy is None:
        if config.policy == "planner":
            raise ValueError("collect: --policy planner acts through jepaworld.eval.planned.collect_planned(config)")
        episode_policy = DataPolicy(config.momentum, random=config.policy == "random")
    env = _make_env(config)
    try:
        start = episode_policy(env)  # here too with workers: a policy that cannot start fails before any file
    except BaseException:
        env.close()
        raise
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
            "env_kwargs": parse_env_kwargs(config.env_kwargs),  # recorded, so that eval makes the same env
            "policy": config.policy,
            **(
                {
                    "checkpoint": config.checkpoint,
                    "goal_offset": config.goal_offset,
                    "replan_every": config.replan_every,
                    "plan_context": config.plan_context,
                    "plan_blocks": config.plan_blocks,
                    "metric": config.metric,
                    "metric_shrink": config.metric_shrink,
                }
                if config.checkpoint
                else {}
            ),
        },
        overwrite=config.overwrite,
    )
    seeds = [config.seed * 100_000 + i for i in range(config.episodes)]
    with writer:
        if config.workers == 1:
            try:
                episodes = (_rollout(env, start, config, state_dim, seed) for seed in seeds)
                _write(writer, episodes, seeds, config.progress)
            finally:
                env.close()
        else:
            env.close()
            _write(writer, _parallel_rollouts(config, episode_policy, state_dim, seeds), seeds, config.progress)
    return writer.path


def _parallel_rollouts(config: CollectConfig, episode_policy, state_dim: int, seeds: list[int]):
    """Episodes of ``seeds``, in order, from ``config.workers`` processes; at most a few per worker wait
    in memory for the writer."""
    # spawn, not fork: a forked child would share the parent's renderer (OpenGL, SDL) state.
    context = multiprocessing.get_context("spawn")
    workers = min(config.workers, len(seeds))
    with context.Pool(workers, initializer=_worker_start, initargs=(config, episode_policy, state_dim)) as pool:
        block = 4 * workers
        for start in range(0, len(seeds), block):
            yield from pool.imap(_worker_rollout, seeds[start : start + block])


def _make_env(config: CollectConfig):
    return make_env(
        config.env,
        config.image_size,
        max_episode_steps=config.steps + 1,
        **COLLECT_KWARGS.get(config.env, {}),
        **parse_env_kwargs(config.env_kwargs),
    )


def _write(writer: EpisodeWriter, episodes, seeds: list[int], progress: bool) -> None:
    for seed, (frames, actions, states) in tqdm(
        zip(seeds, episodes, strict=True), total=len(seeds), desc="collect", unit="ep", disable=not progress
    ):
        writer.add_episode(frames, actions, states, seed)


def _rollout(env, start: EpisodeStart, config: CollectConfig, state_dim: int, episode_seed: int):
    """One episode -> ``(frames, actions, states or None)``, stacked."""
    obs, info, act = start(episode_seed)
    frames, actions, states = [obs], [], [_state(info, config.state_key, state_dim)]
    for _ in range(config.steps):
        action = act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        frames.append(obs)
        actions.append(action)
        states.append(_state(info, config.state_key, state_dim))
        if terminated or truncated:  # an env that ends early gives a shorter episode
            break
    return np.stack(frames), np.stack(actions), np.stack(states).astype(np.float32) if state_dim else None


_worker: dict = {}  # in a worker process: its env and what each rollout needs


def _worker_start(config: CollectConfig, episode_policy, state_dim: int) -> None:
    env = _make_env(config)
    _worker.update(env=env, start=episode_policy(env), config=config, state_dim=state_dim)


def _worker_rollout(episode_seed: int):
    return _rollout(_worker["env"], _worker["start"], _worker["config"], _worker["state_dim"], episode_seed)


def _state(info: dict, key: str, state_dim: int) -> np.ndarray | None:
    if not state_dim:
        return None
    state = info_state(info, key)
    if state.size != state_dim:
        raise EnvError(f"info[{key!r}] changed size from {state_dim} to {state.size} within an episode")
    return state

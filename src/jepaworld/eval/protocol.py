"""The evaluation protocol of DESIGN.md, the only place where an env and a planner meet.

Start/goal pairs come from held-out seeds (``HELD_OUT_SEED_BASE + seed * 1_000_000 + i``, never a
training seed); success rate with a 95% Wilson interval; mean final distance; planning ms per env
step; an oracle row per task where the env exposes its simulator (the same planner on the true state)
or a scripted solver; and the random floor on the same pairs. Any Gymnasium env works: goals come
from ``eval.goals`` (the env's own, or where the data policy goes).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from jepaworld.config import check, option, to_dict
from jepaworld.data import HELD_OUT_SEED_BASE, CollectConfig
from jepaworld.envs import TWO_ROOM_MAX_STEPS
from jepaworld.envs.adapter import info_state, make_env, parse_env_kwargs
from jepaworld.eval.agents import (
    ModelAgent,
    OracleAgent,
    RandomAgent,
    ScriptedAgent,
    SimulatorAgent,
    check_ensemble_score,
    has_oracle,
    has_scripted_solver,
    has_simulator_frames,
    metric_whitening,
    model_functions,
    planning_bounds,
    shared_encoder_models,
)
from jepaworld.eval.goals import DEFAULT_GOAL_OFFSET, GoalTask, episode_limit, make_goal_task
from jepaworld.eval.report import markdown_table, write_gif
from jepaworld.eval.stats import wilson_interval
from jepaworld.planning import PlannerConfig, build_planner
from jepaworld.planning.metric import check_metric_options
from jepaworld.train import load_checkpoint, resolve_device


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how many held-out episodes."""

    checkpoint: str = option("runs/two-room", "checkpoint directory, or a run directory (its latest)")
    env: str = option("", "env to evaluate in (registered id, MODULE:CLASS or file.py:CLASS); default: the data's")
    env_kwargs: str = option("", "JSON keyword arguments for the env; default: those the data was collected with")
    episodes: int = option(100, "held-out start/goal pairs (>= 100 for a headline figure)")
    seed: int = option(0, "block of held-out seeds: pair i resets with 2^31 + seed * 1e6 + i")
    planner_seed: int = option(
        -1,
        "seed of the planner's random draws (-1: the same as --seed); the same pairs under another draw show how "
        "much of a score is the planner's luck",
    )
    max_steps: int = option(TWO_ROOM_MAX_STEPS, "env step budget per episode")
    goal_offset: int = option(
        0,
        "K > 0: the goal is where the data policy goes in K steps from the same start (as LeWM); 0: the env's own "
        f"goal where it has one, else K = {DEFAULT_GOAL_OFFSET}",
    )
    start_offset: int = option(
        0,
        "K > 0: each start is where the data policy is 0..K steps (drawn per pair) after reset, the goal "
        "--goal-offset steps further on (as LeWM draws both from a data trajectory); 0: starts at reset",
    )
    state_key: str = option("state", "info entry that is the true state (success distance, oracle)")
    success_radius: float = option(
        0.0, "success when info[state_key] comes this close to the goal's; 0: the env's own test (is_success)"
    )
    replan_every: int = option(1, "model steps executed before re-planning")
    plan_context: int = option(
        1,
        "latents a plan starts from and the predictor sees (1..history; 1 is fastest; more where motion "
        "carries on by itself, as an arm under torques)",
    )
    plan_blocks: bool = option(
        False,
        "plan each model step's frameskip env actions one by one (as the data's are), not one action held "
        "frameskip times",
    )
    metric: str = option(
        "latent",
        "latent distance the energy measures: latent (Euclidean) or steps (in units of one model step's change, "
        "so an object that moves only when pushed weighs as much as the agent; measured on --metric-data)",
    )
    metric_data: str = option("", "episode file the steps metric is measured on; default: the checkpoint's data")
    metric_shrink: float = option(
        0.1, "steps metric: shrink its scales toward their mean (0 < s <= 1; 1 is the latent metric)"
    )
    ensemble: tuple[str, ...] = option(
        (),
        "more checkpoints whose predictors imagine beside --checkpoint's, each trained with --freeze-encoder on "
        "its encoder: a plan is scored on the mean of their imagined latents (see --ensemble-score)",
    )
    ensemble_score: str = option(
        "mean",
        "--ensemble: mean (the energy of the predictors' mean imagined latents) or worst (each predictor's "
        "rollout is scored and a plan counts as its worst: plans whose outcome they disagree on lose, so the "
        "planner cannot pick a plan for one predictor's error in its favour)",
    )
    compile: bool = option(
        False, "plan with a torch.compile'd predictor (faster back-to-back plans after a one-off compile)"
    )
    oracle: bool = option(True, "also run the oracle rows (planner on true state, scripted solver)")
    oracle_dynamics: bool = option(
        False,
        "also run the row oracle_dynamics: the planner imagining with the true simulator, each imagined state "
        "drawn and encoded, and scoring with the world model's energy. Between it and the world model lies what "
        "the model's dynamics cost, between it and the oracle what its latents cost. Slow: it draws every candidate",
    )
    gifs: int = option(0, "episodes saved as GIFs (goal beside the agent)")
    out: str = option("runs/two-room/eval", "directory for results.json, results.md and GIFs")
    device: str = option("auto", "torch device for the model")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        check(self.episodes >= 1, f"episodes must be >= 1, got {self.episodes}")
        check(0 <= self.seed < 2000, f"seed must be in [0, 2000), got {self.seed}")
        check(self.planner_seed >= -1, f"planner_seed must be >= 0 (or -1: the same as seed), got {self.planner_seed}")
        check(self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}")
        check(self.goal_offset >= 0, f"goal_offset must be >= 0, got {self.goal_offset}")
        check(self.start_offset >= 0, f"start_offset must be >= 0, got {self.start_offset}")
        check(self.replan_every >= 1, f"replan_every must be >= 1, got {self.replan_every}")
        check(self.plan_context >= 1, f"plan_context must be >= 1, got {self.plan_context}")
        check(self.success_radius >= 0, f"success_radius must be >= 0, got {self.success_radius}")
        check_metric_options(self.metric, self.metric_shrink)
        check_ensemble_score(self.ensemble_score)
        check(
            self.ensemble_score == "mean" or bool(self.ensemble),
            "--ensemble-score worst scores several predictors' rollouts: give them with --ensemble CKPT [CKPT ...]",
        )
        parse_env_kwargs(self.env_kwargs)


def held_out_seeds(seed: int, episodes: int) -> list[int]:
    return [HELD_OUT_SEED_BASE + seed * 1_000_000 + i for i in range(episodes)]


def run_episode(env, agent, seed: int, max_steps: int, task: GoalTask, record: bool = False) -> dict[str, Any]:
    """One episode: ``agent.reset(env, seed, goal)`` then ``agent.act(obs, env)`` until success, the end or budget.

    The record keeps the true final and goal states (``info[state_key]``; None where the env has none), so a
    miss can be read afterwards (where the agent and the object ended) without replaying the episode."""
    obs, info, goal = task.reset(env, seed)
    agent.reset(env, seed, goal)
    frames = [obs] if record else []
    steps = 0
    success, distance = task.judge(info, goal)
    start_distance = distance
    while not success and steps < max_steps:
        obs, _, terminated, truncated, info = env.step(agent.act(obs, env))
        steps += 1
        success, distance = task.judge(info, goal)
        if record:
            frames.append(obs)
        if terminated or truncated:
            break
    return {
        "seed": seed,
        "success": success,
        "steps": steps,
        "start_distance": start_distance,
        "final_distance": distance,
        "final_state": info_state(info, task.state_key).tolist() if task.state_key in info else None,
        "goal_state": None if goal.state is None else goal.state.tolist(),
        "frames": frames,
        "goal_frame": goal.frame,
    }


def summarise(agent: str, episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate episode records into one results row."""
    n, wins = len(episodes), sum(e["success"] for e in episodes)
    per_step = [e["plan_ms_per_step"] for e in episodes if e.get("plan_ms_per_step") is not None]
    return {
        "agent": agent,
        "episodes": n,
        "successes": wins,
        "success_rate": wins / n,
        "success_ci95": list(wilson_interval(wins, n)),
        "mean_start_distance": _mean_or_none([e.get("start_distance") for e in episodes]),
        "mean_final_distance": _mean_or_none([e["final_distance"] for e in episodes]),
        "mean_steps": float(np.mean([e["steps"] for e in episodes])),
        "plan_ms_per_step_median": statistics.median(per_step) if per_step else None,
        "plan_ms_per_step_p90": float(np.percentile(per_step, 90)) if per_step else None,
    }


def _mean_or_none(values: list[float]) -> float | None:
    """The mean, or None (JSON null) when no value is a number (no state to measure distances in: the
    episode records hold None, or NaN)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _run_agent(
    name: str,
    env,
    seeds: list[int],
    config: EvalConfig,
    task: GoalTask,
    make_agent,
    gif_dir: Path | None = None,
) -> list[dict[str, Any]]:
    records, gifs = [], config.gifs if gif_dir is not None else 0
    for i, seed in enumerate(tqdm(seeds, desc=name, unit="ep", disable=not config.progress)):
        agent = make_agent()
        record = run_episode(env, agent, seed, config.max_steps, task, record=i < gifs)
        if hasattr(agent, "plan_seconds") and record["steps"]:
            record["plan_ms_per_step"] = 1000 * sum(agent.plan_seconds) / record["steps"]
        if i < gifs:
            write_gif(gif_dir / f"{name}_episode{i:02d}.gif", record["frames"], record["goal_frame"])
        record.pop("frames")
        record.pop("goal_frame")
        for key in ("start_distance", "final_distance"):
            if not np.isfinite(record[key]):
                record[key] = None
        records.append(record)
    return records


def evaluate(config: EvalConfig, planner_config: PlannerConfig) -> dict[str, Any]:
    """Run the protocol and write ``results.json`` and ``results.md`` in ``config.out`` -> the results."""
    device = resolve_device(config.device)
    model, info = load_checkpoint(config.checkpoint, device)
    frameskip = info.model.frameskip
    if config.plan_context > info.model.history:
        raise ValueError(
            f"--plan-context {config.plan_context}: {info.path} was trained with a history of {info.model.history} "
            f"latents; expected 1..{info.model.history}"
        )
    ensemble = shared_encoder_models(model, info, config.ensemble, device)  # checked before the env and metric
    env_id = config.env or info.env_id
    if env_id.split(":")[0] in ("videos", "lerobot", "minari"):
        raise ValueError(
            f"{info.path} was trained on imported data ({env_id}), not on an env; give --env for an env to plan in"
        )
    env_kwargs = (
        parse_env_kwargs(config.env_kwargs)
        if config.env_kwargs
        else info.extra.get("data_extra", {}).get("env_kwargs", {})
    )
    limit = episode_limit(config.max_steps, config.start_offset, config.goal_offset)
    env = make_env(env_id, info.model.image_size, max_episode_steps=limit, **env_kwargs)
    if env.action_space.shape[0] != info.model.env_action_dim:
        raise ValueError(
            f"{env_id} has actions of size {env.action_space.shape[0]}, the checkpoint {info.path} was trained "
            f"with size {info.model.env_action_dim}"
        )
    if config.oracle_dynamics and not has_simulator_frames(env):
        raise ValueError(
            f"--oracle-dynamics needs an env whose simulator rolls out states (physics.rollout_states) and that "
            f"draws any state (render_state), as jepaworld's TwoRoom, PushT and Cube do; {env_id} does not"
        )
    task = make_goal_task(
        env, config.goal_offset, config.state_key, config.success_radius, CollectConfig().momentum, config.start_offset
    )
    low, high = env.action_space.low, env.action_space.high
    block_low, block_high = planning_bounds(low, high, frameskip, config.plan_blocks)
    seeds = held_out_seeds(config.seed, config.episodes)
    planner_seed = config.seed if config.planner_seed == -1 else config.planner_seed
    whitening, metric_data = metric_whitening(model, info, config.metric, config.metric_data, config.metric_shrink)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    encode, rollout = model_functions(
        model,
        frameskip,
        device,
        context=config.plan_context,
        compile=config.compile,
        blocks=config.plan_blocks,
        whitening=whitening,
        ensemble=ensemble,
        ensemble_score=config.ensemble_score,
    )

    def make_model_agent():
        return ModelAgent(
            build_planner(planner_config, block_low, block_high, seed=planner_seed),
            encode,
            rollout,
            frameskip,
            config.replan_every,
            config.plan_context,
            config.plan_blocks,
        )

    records = {"world_model": _run_agent("world_model", env, seeds, config, task, make_model_agent, gif_dir=out)}
    if config.oracle and has_oracle(env):
        physics = env.unwrapped.physics
        records["oracle_planner"] = _run_agent(
            "oracle_planner",
            env,
            seeds,
            config,
            task,
            lambda: OracleAgent(
                build_planner(planner_config, low, high, seed=planner_seed), physics, frameskip, config.replan_every
            ),
        )
    if config.oracle_dynamics:
        records["oracle_dynamics"] = _run_agent(
            "oracle_dynamics",
            env,
            seeds,
            config,
            task,
            lambda: SimulatorAgent(
                build_planner(planner_config, block_low, block_high, seed=planner_seed),
                env.unwrapped.physics,
                env.unwrapped.render_state,
                model.encode_frames,
                frameskip,
                config.replan_every,
                config.plan_blocks,
                whitening,
            ),
        )
    if config.oracle and has_scripted_solver(env):
        records["oracle_scripted"] = _run_agent("oracle_scripted", env, seeds, config, task, ScriptedAgent)
    records["random"] = _run_agent("random", env, seeds, config, task, RandomAgent)
    env.close()
    rows = [summarise(name, recs) for name, recs in records.items()]
    by_name = {row["agent"]: row for row in rows}
    main = rows[0]
    results = {
        "env": env_id,
        "goal_offset": task.offset,
        "start_offset": task.start_offset,
        "success_radius": task.radius,
        "episodes": config.episodes,
        "seed": config.seed,
        "planner_seed": planner_seed,
        "metric": config.metric,
        "metric_data": metric_data,
        "success_rate": main["success_rate"],
        "success_ci95": main["success_ci95"],
        "mean_final_distance": main["mean_final_distance"],
        "plan_ms_per_step_median": main["plan_ms_per_step_median"],
        "plan_ms_per_step_p90": main["plan_ms_per_step_p90"],
        "train_seconds": info.train_seconds,
        "train_steps": info.step,
        "oracle_success_rate": by_name["oracle_planner"]["success_rate"] if "oracle_planner" in by_name else None,
        "scripted_success_rate": by_name["oracle_scripted"]["success_rate"] if "oracle_scripted" in by_name else None,
        "oracle_dynamics_success_rate": (
            by_name["oracle_dynamics"]["success_rate"] if "oracle_dynamics" in by_name else None
        ),
        "random_success_rate": by_name["random"]["success_rate"],
        "checkpoint": str(info.path),
        "device": str(device),
        "rows": rows,
        "planner": to_dict(planner_config),
        "eval": to_dict(config),
        "episodes_detail": {name: recs for name, recs in records.items()},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(results))
    return results

"""The evaluation protocol of DESIGN.md, the only place where an env and a planner meet.

Start/goal pairs come from held-out seeds (``HELD_OUT_SEED_BASE + seed * 1_000_000 + i``, never a
training seed); success rate with a 95% Wilson interval; mean final distance; planning ms per env
step; an oracle row per task: the same planner on the true simulator, and the scripted solver.
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
from jepaworld.data import HELD_OUT_SEED_BASE, CollectConfig, make_env
from jepaworld.envs import TWO_ROOM_MAX_STEPS
from jepaworld.envs.policies import MomentumRandomPolicy
from jepaworld.eval.agents import ModelAgent, OracleAgent, RandomAgent, ScriptedAgent, model_functions
from jepaworld.eval.report import markdown_table, write_gif
from jepaworld.eval.stats import wilson_interval
from jepaworld.planning import PlannerConfig, build_planner
from jepaworld.train import load_checkpoint, resolve_device


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how many held-out episodes."""

    checkpoint: str = option("runs/two-room", "checkpoint directory, or a run directory (its latest)")
    episodes: int = option(100, "held-out start/goal pairs (>= 100 for a headline figure)")
    seed: int = option(0, "block of held-out seeds: pair i resets with 2^31 + seed * 1e6 + i")
    max_steps: int = option(TWO_ROOM_MAX_STEPS, "env step budget per episode")
    goal_offset: int = option(
        0, "0: the env's own goal; K > 0: the state the data policy reaches K steps from the same start (as LeWM)"
    )
    replan_every: int = option(1, "model steps executed before re-planning")
    plan_context: int = option(1, "latents the predictor sees while planning (1..history; 1 is fastest)")
    compile: bool = option(
        False, "plan with a torch.compile'd predictor (faster back-to-back plans after a one-off compile)"
    )
    oracle: bool = option(True, "also run the oracle rows (planner on true state, scripted solver)")
    gifs: int = option(0, "episodes saved as GIFs (goal beside the agent)")
    out: str = option("runs/two-room/eval", "directory for results.json, results.md and GIFs")
    device: str = option("auto", "torch device for the model")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        check(self.episodes >= 1, f"episodes must be >= 1, got {self.episodes}")
        check(0 <= self.seed < 2000, f"seed must be in [0, 2000), got {self.seed}")
        check(self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}")
        check(self.goal_offset >= 0, f"goal_offset must be >= 0, got {self.goal_offset}")
        check(self.replan_every >= 1, f"replan_every must be >= 1, got {self.replan_every}")
        check(self.plan_context >= 1, f"plan_context must be >= 1, got {self.plan_context}")


def held_out_seeds(seed: int, episodes: int) -> list[int]:
    return [HELD_OUT_SEED_BASE + seed * 1_000_000 + i for i in range(episodes)]


def offset_goal(env, seed: int, offset: int) -> np.ndarray:
    """The state the data policy (seeded by the episode) reaches ``offset`` steps after the start of ``seed``:
    a goal that is reachable by construction, drawn as LeWM draws goals from data trajectories."""
    unwrapped = env.unwrapped
    unwrapped.reset(seed=seed)
    space = env.action_space
    policy = MomentumRandomPolicy(space.low, space.high, beta=CollectConfig().momentum, rng=np.random.default_rng(seed))
    for _ in range(offset):
        unwrapped.step(policy())
    return unwrapped.state


def run_episode(
    env, act, reset_agent, seed: int, max_steps: int, record: bool = False, goal_offset: int = 0
) -> dict[str, Any]:
    """One episode: ``reset_agent(env, seed)`` then ``act(obs, env) -> action`` until success or budget."""
    options = {"goal": offset_goal(env, seed, goal_offset)} if goal_offset else None
    obs, info = env.reset(seed=seed, options=options)
    reset_agent(env, seed)
    frames = [obs] if record else []
    steps, success = 0, bool(info["is_success"])
    while not success and steps < max_steps:
        obs, _, terminated, truncated, info = env.step(act(obs, env))
        steps += 1
        success = bool(info["is_success"])
        if record:
            frames.append(obs)
        if terminated or truncated:
            break
    distance = float(np.linalg.norm(info["state"] - info["goal"]))
    return {"seed": seed, "success": success, "steps": steps, "final_distance": distance, "frames": frames}


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
        "mean_final_distance": float(np.mean([e["final_distance"] for e in episodes])),
        "mean_steps": float(np.mean([e["steps"] for e in episodes])),
        "plan_ms_per_step_median": statistics.median(per_step) if per_step else None,
        "plan_ms_per_step_p90": float(np.percentile(per_step, 90)) if per_step else None,
    }


def _run_agent(
    name: str,
    env,
    seeds: list[int],
    config: EvalConfig,
    make_agent,
    gif_dir: Path | None = None,
) -> list[dict[str, Any]]:
    records, gifs = [], config.gifs if gif_dir is not None else 0
    for i, seed in enumerate(tqdm(seeds, desc=name, unit="ep", disable=not config.progress)):
        agent = make_agent()
        record = run_episode(
            env, agent.act, agent.reset, seed, config.max_steps, record=i < gifs, goal_offset=config.goal_offset
        )
        if hasattr(agent, "plan_seconds") and record["steps"]:
            record["plan_ms_per_step"] = 1000 * sum(agent.plan_seconds) / record["steps"]
        if i < gifs:
            write_gif(gif_dir / f"{name}_episode{i:02d}.gif", record["frames"], env.unwrapped.goal_observation())
        record.pop("frames")
        records.append(record)
    return records


def evaluate(config: EvalConfig, planner_config: PlannerConfig) -> dict[str, Any]:
    """Run the protocol and write ``results.json`` and ``results.md`` in ``config.out`` -> the results."""
    device = resolve_device(config.device)
    model, info = load_checkpoint(config.checkpoint, device)
    frameskip = info.model.frameskip
    env = make_env(info.env_id, max_episode_steps=config.max_steps)
    low, high = env.action_space.low, env.action_space.high
    seeds = held_out_seeds(config.seed, config.episodes)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    encode, rollout = model_functions(model, frameskip, device, context=config.plan_context, compile=config.compile)

    def make_model_agent():
        return ModelAgent(
            build_planner(planner_config, low, high, seed=config.seed),
            encode,
            rollout,
            frameskip,
            config.replan_every,
        )

    records = {"world_model": _run_agent("world_model", env, seeds, config, make_model_agent, gif_dir=out)}
    if config.oracle:
        physics = env.unwrapped.physics
        records["oracle_planner"] = _run_agent(
            "oracle_planner",
            env,
            seeds,
            config,
            lambda: OracleAgent(
                build_planner(planner_config, low, high, seed=config.seed), physics, frameskip, config.replan_every
            ),
        )
        records["oracle_scripted"] = _run_agent("oracle_scripted", env, seeds, config, ScriptedAgent)
    records["random"] = _run_agent("random", env, seeds, config, RandomAgent)
    env.close()
    rows = [summarise(name, recs) for name, recs in records.items()]
    by_name = {row["agent"]: row for row in rows}
    main = rows[0]
    results = {
        "env": info.env_id,
        "episodes": config.episodes,
        "seed": config.seed,
        "success_rate": main["success_rate"],
        "success_ci95": main["success_ci95"],
        "mean_final_distance": main["mean_final_distance"],
        "plan_ms_per_step_median": main["plan_ms_per_step_median"],
        "plan_ms_per_step_p90": main["plan_ms_per_step_p90"],
        "train_seconds": info.train_seconds,
        "train_steps": info.step,
        "oracle_success_rate": by_name["oracle_planner"]["success_rate"] if config.oracle else None,
        "scripted_success_rate": by_name["oracle_scripted"]["success_rate"] if config.oracle else None,
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

"""Calibrate the surprise monitor and show, on Two-Room with injected disturbances, what it flags.

Calibration: the monitor's surprise (latent error of a one-model-step prediction) over every model step
of the run's held-out validation episodes; the threshold is a high quantile of it.
Disturbance run: MPC episodes on held-out start/goal pairs; every few dozen env steps the agent is
moved (teleported by a few pixels) from outside. A disturbance counts as detected when one of the two
model steps that follow it is flagged; every other model step that is flagged is a false alarm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from jepaworld.config import check, option, to_dict
from jepaworld.data import EpisodeFile, make_env
from jepaworld.eval.agents import model_functions
from jepaworld.eval.protocol import held_out_seeds
from jepaworld.eval.stats import wilson_interval
from jepaworld.planning import MPCAgent, PlannerConfig, build_planner
from jepaworld.planning.monitor import SurpriseMonitor
from jepaworld.train import load_checkpoint, resolve_device
from jepaworld.train.trainer import split_episodes


@dataclass(frozen=True)
class MonitorConfig:
    """Calibrate the monitor on held-out data, then run MPC with injected disturbances."""

    checkpoint: str = option("", "Two-Room checkpoint or run directory")
    data: str = option("", "episode file the run trained on (default: the one its checkpoint names)")
    quantile: float = option(0.99, "threshold = this quantile of the surprise on held-out validation episodes")
    episodes: int = option(50, "held-out MPC episodes with disturbances")
    steps: int = option(150, "env steps per episode")
    every: tuple[int, int] = option((25, 45), "env steps between disturbances, drawn uniformly in [low, high)")
    push: tuple[float, float] = option((6.0, 12.0), "disturbance size in pixels, drawn uniformly in [low, high)")
    plan_context: int = option(1, "latents the predictor sees while planning and predicting")
    seed: int = option(0, "block of held-out seeds and the disturbance draws")
    out: str = option("runs/monitor", "directory for monitor.json and monitor.md")
    device: str = option("auto", "torch device")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        check(bool(self.checkpoint), "monitor needs --checkpoint")
        check(0.5 <= self.quantile < 1.0, f"quantile must be in [0.5, 1), got {self.quantile}")
        check(self.episodes >= 1 and self.steps >= 10, "episodes must be >= 1 and steps >= 10")
        check(len(self.every) == 2 and 2 <= self.every[0] < self.every[1], f"every: [low, high), got {self.every}")
        check(len(self.push) == 2 and 0 < self.push[0] < self.push[1], f"push: [low, high) > 0, got {self.push}")


def predict_fn(model, context: int, device):
    """``(z [D], model action [A]) -> z_next [D]``: one imagined model step."""

    @torch.inference_mode()
    def predict(z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return model.rollout(z[None].to(device), action[None, None].to(device), context=context)[0, 0].float().cpu()

    return predict


@torch.inference_mode()
def step_surprises(model, episodes: EpisodeFile, indices, frameskip: int, context: int, device) -> np.ndarray:
    """The monitor's surprise for every model step of the given episodes (data actions) -> ``[N]``."""
    out = []
    for e in indices:
        episode = episodes.episode(int(e))
        frames = episode["frames"][::frameskip]
        steps = (len(episode["frames"]) - 1) // frameskip
        if steps < 1:
            continue
        z = model.encode_frames(frames[: steps + 1]).to(device)  # [steps + 1, D]
        actions = rearrange(episode["actions"][: steps * frameskip], "(t k) a -> t (k a)", k=frameskip)
        a = torch.from_numpy(np.ascontiguousarray(actions)).to(device)[:, None]  # [steps, 1, A]
        pred = model.rollout(z[:-1], a, context=context)[:, 0]  # [steps, D]
        out.append((pred - z[1:]).pow(2).mean(-1).float().cpu().numpy())
    return np.concatenate(out)


def calibrate_threshold(model, info, data: str, quantile: float, context: int, device) -> dict:
    """Threshold from the run's held-out validation episodes (all episodes when it kept none)."""
    train_config = info.extra.get("train_config", {})
    with EpisodeFile(data) as episodes:
        _, val = split_episodes(
            episodes.num_episodes, train_config.get("val_episodes", 0.05), train_config.get("seed", 0)
        )
        held_out = len(val) > 0
        indices = val if held_out else np.arange(episodes.num_episodes)
        values = step_surprises(model, episodes, indices, info.model.frameskip, context, device)
    return {
        "threshold": float(np.quantile(values, quantile)),
        "quantile": quantile,
        "steps": len(values),
        "episodes": len(indices),
        "held_out": held_out,
        "median": float(np.median(values)),
    }


def _push(env, rng: np.random.Generator, low: float, high: float) -> float | None:
    """Move the agent by a random displacement to a free position -> its size, or None if none was found."""
    unwrapped = env.unwrapped
    for _ in range(50):
        angle, size = rng.uniform(0, 2 * np.pi), rng.uniform(low, high)
        target = unwrapped.state + size * np.array([np.cos(angle), np.sin(angle)])
        if unwrapped.physics.free(target[None])[0]:
            unwrapped.set_state(target)
            return float(size)
    return None


def run_monitor(config: MonitorConfig, planner_config: PlannerConfig | None = None) -> dict:
    """Calibrate, then run the disturbed episodes -> results (written to ``config.out``)."""
    device = resolve_device(config.device)
    model, info = load_checkpoint(config.checkpoint, device)
    if info.model.action_free:
        raise ValueError(f"{info.path} is action-free (trained on video); the monitor runs inside MPC")
    data = config.data or info.extra.get("data", "")
    if not data or not Path(data).exists():
        raise FileNotFoundError(f"calibration data {data!r} not found; pass --data, the file the run trained on")
    calibration = calibrate_threshold(model, info, data, config.quantile, config.plan_context, device)
    planner_config = planner_config or PlannerConfig()
    frameskip = info.model.frameskip
    env = make_env(info.env_id, terminate_on_success=False, max_episode_steps=config.steps + 1)
    encode, rollout = model_functions(model, frameskip, device, context=config.plan_context)
    monitor = SurpriseMonitor(predict_fn(model, config.plan_context, device), calibration["threshold"])
    planner = build_planner(planner_config, env.action_space.low, env.action_space.high, seed=config.seed)
    agent = MPCAgent(planner, encode, rollout, frameskip, monitor=monitor)
    rng = np.random.default_rng(config.seed)
    detected, delays, undisturbed, false_alarms, disturbances, successes = 0, [], 0, 0, 0, 0
    for episode_seed in tqdm(
        held_out_seeds(config.seed, config.episodes), desc="monitor", unit="ep", disable=not config.progress
    ):
        obs, info_env = env.reset(seed=episode_seed)
        agent.reset(env.unwrapped.goal_observation())
        pushes, next_push, checks = [], int(rng.integers(*config.every)), []
        for t in range(config.steps):
            logged = len(monitor.log)
            obs, _, _, _, info_env = env.step(agent.act(obs))
            if len(monitor.log) > logged:  # the act() call above checked the model step that ended at t
                checks.append((t, monitor.log[-1][1]))
            if t == next_push and t < config.steps - 2 * frameskip:
                if _push(env, rng, *config.push) is not None:
                    pushes.append(t)
                    obs = env.unwrapped.render()
                next_push = t + int(rng.integers(*config.every))
        successes += bool(info_env["is_success"])
        after = {p: [i for i, (t, _) in enumerate(checks) if t > p][:2] for p in pushes}
        near = {i for idx in after.values() for i in idx}
        for idx in after.values():
            disturbances += 1
            flagged = [k for k, i in enumerate(idx) if checks[i][1]]
            if flagged:
                detected += 1
                delays.append(flagged[0] + 1)
        for i, (_, flagged) in enumerate(checks):
            if i not in near:
                undisturbed += 1
                false_alarms += flagged
    env.close()
    results = {
        "checkpoint": str(info.path),
        "calibration": calibration,
        "episodes": config.episodes,
        "disturbances": disturbances,
        "detected_within_2_steps": detected / max(disturbances, 1),
        "detected_ci95": list(wilson_interval(detected, disturbances)),
        "detected_at_step": {str(k): delays.count(k) for k in (1, 2)},
        "undisturbed_steps": undisturbed,
        "false_alarm_rate": false_alarms / max(undisturbed, 1),
        "false_alarm_ci95": list(wilson_interval(false_alarms, undisturbed)),
        "success_rate_under_disturbance": successes / config.episodes,
        "config": to_dict(config),
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "monitor.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "monitor.md").write_text(markdown(results) + "\n")
    return results


def markdown(results: dict) -> str:
    c = results["calibration"]
    return "\n".join(
        [
            "| threshold (quantile) | disturbances | detected within 2 model steps | undisturbed steps "
            "| false alarms |",
            "|---|---|---|---|---|",
            f"| {c['threshold']:.4g} (q={c['quantile']}) | {results['disturbances']} | "
            f"{results['detected_within_2_steps']:.1%} [{results['detected_ci95'][0]:.1%}, "
            f"{results['detected_ci95'][1]:.1%}] | {results['undisturbed_steps']} | "
            f"{results['false_alarm_rate']:.1%} [{results['false_alarm_ci95'][0]:.1%}, "
            f"{results['false_alarm_ci95'][1]:.1%}] |",
        ]
    )

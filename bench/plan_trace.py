"""Why does a planner miss? Each held-out pair's first plan, executed open loop and traced.

    python bench/plan_trace.py --checkpoint RUN [--pairs 10] [--goal-offset 25] [--max-steps 50] [--name NAME]

For each pair (the pairs of ``jepaworld eval`` with the same goal offset and step budget) the eval's
goal and default planner make the first plan; its actions then run in the env, held ``frameskip`` steps
per model step, and at every model step the trace records the energy the planner imagined, the energy
the env's frame then shows (squared latent distance to the goal, the planner's measure), the gap between
the imagined and the real latent, and how far each quantity of the true state still is from the goal's.

Two readings: a large imagined-real gap means the model is wrong where the planner goes; a real energy
near 0 while the state is still far from the goal means the energy itself is blind to what is off
(the step where the real energy is lowest is shown with its state distances).
Writes ``--out/plan-trace-NAME.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from jepaworld.config import to_dict
from jepaworld.data import CollectConfig
from jepaworld.envs.adapter import make_env
from jepaworld.envs.angles import wrap_angle
from jepaworld.eval.agents import ModelAgent, model_functions
from jepaworld.eval.goals import make_goal_task
from jepaworld.eval.protocol import held_out_seeds
from jepaworld.planning import PlannerConfig, build_planner
from jepaworld.planning.energy import goal_distance
from jepaworld.train import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def state_gaps(state: np.ndarray, goal: np.ndarray, names: list[str], angles: set[str]) -> dict[str, float]:
    """Per quantity, how far ``state`` is from ``goal`` (angles the short way round, in degrees)."""
    diff = np.asarray(state, dtype=float).ravel() - np.asarray(goal, dtype=float).ravel()
    names = names or [f"state_{i}" for i in range(len(diff))]  # an env that does not name its state
    gaps = zip(names, diff, strict=True)
    return {n: float(np.degrees(abs(wrap_angle(d)))) if n in angles else float(abs(d)) for n, d in gaps}


@torch.inference_mode()
def trace_pair(env, task, agent, encode, rollout, frameskip: int, seed: int, names, angles) -> dict:
    obs, info, goal = task.reset(env, seed)
    z_goal = encode(goal.frame)
    agent.mpc.reset(goal_latent=z_goal)
    agent.act(obs, env)
    plan = torch.as_tensor(agent.mpc.last_plan.actions, dtype=torch.float32)
    imagined = rollout(encode(obs)[None], plan[None])[0]
    real, gaps = [], []
    for action in plan.numpy():
        for _ in range(frameskip):
            obs, _, _, _, info = env.step(action)
        real.append(encode(obs))
        if goal.state is not None and task.state_key in info:
            gaps.append(state_gaps(info[task.state_key], goal.state, names, angles))
    real = torch.stack(real)
    real_energy = goal_distance(real, z_goal)  # the planner's measure, as its energies use it
    lowest = int(real_energy.argmin())
    return {
        "seed": seed,
        "imagined_energy": goal_distance(imagined, z_goal).tolist(),
        "real_energy": real_energy.tolist(),
        "gap": (imagined - real).pow(2).mean(-1).tolist(),
        "state_gaps": gaps,
        "lowest_step": lowest,
        "at_lowest": gaps[lowest] if gaps else {},
    }


def markdown(report: dict) -> str:
    names = report["state_names"]
    lines = [
        f"# First plans of `{report['checkpoint']}`, executed open loop ({report['env']}, goals "
        f"{report['goal_offset']} steps ahead, {report['planner']['planner']} horizon {report['planner']['horizon']})",
        "",
        "Real energy at its lowest over the plan, and the state's distance from the goal there "
        "(positions in the env's units, angles in degrees):",
        "",
        "| seed | imagined energy, lowest | real energy, lowest | at step | gap, step 1 | gap, last step | "
        + " | ".join(names)
        + " |",
        "|---" * (6 + len(names)) + "|",
    ]
    for p in report["pairs"]:
        k, at = p["lowest_step"], p["at_lowest"]
        lines.append(
            f"| {p['seed']} | {min(p['imagined_energy']):.3f} | {p['real_energy'][k]:.3f} | {k + 1} | "
            f"{p['gap'][0]:.3f} | {p['gap'][-1]:.3f} | "
            + " | ".join(f"{at.get(n, float('nan')):.3g}" for n in names)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--goal-offset", type=int, default=25)
    parser.add_argument("--max-steps", type=int, default=50, help="the eval's step budget (it bounds the goals)")
    parser.add_argument("--name", default="run", help="suffix of the result files")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    model, info = load_checkpoint(args.checkpoint, "cpu")
    model.eval()
    frameskip = info.model.frameskip
    env = make_env(info.env_id, info.model.image_size, max_episode_steps=args.max_steps)
    task = make_goal_task(env, args.goal_offset, "state", 0.0, CollectConfig().momentum)
    encode, rollout = model_functions(model, frameskip, "cpu")
    planner_config = PlannerConfig()
    low, high = env.action_space.low, env.action_space.high
    agent = ModelAgent(build_planner(planner_config, low, high, seed=0), encode, rollout, frameskip, 1)
    names = list(getattr(env.unwrapped, "state_names", ()))
    angles = set(getattr(env.unwrapped, "state_angles", ()))
    pairs = [
        trace_pair(env, task, agent, encode, rollout, frameskip, seed, names, angles)
        for seed in held_out_seeds(0, args.pairs)
    ]
    report = {
        "checkpoint": str(info.path),
        "env": info.env_id,
        "goal_offset": args.goal_offset,
        "max_steps": args.max_steps,
        "planner": to_dict(planner_config),
        "state_names": list(pairs[0]["at_lowest"]) if pairs else names,
        "pairs": pairs,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"plan-trace-{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown(report)
    (out / f"plan-trace-{args.name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

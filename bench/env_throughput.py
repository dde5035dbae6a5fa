"""Benchmark: how fast each env steps and renders its 64 x 64 frames, in frames per second.

Each env runs its own data policy (what ``jepaworld collect`` does, less the writing) for ``--steps``
steps after a reset, ``--reps`` times; the median over repetitions is reported, with the load average
of the machine at the start (other work on a shared machine slows every figure alike). Writes
``bench/results/env-throughput.json`` and a markdown table beside it.

    python bench/env_throughput.py [--steps 500] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from jepaworld.envs import COLLECT_KWARGS, CUBE_ID, PUSH_T_ID, REACHER_ID, TWO_ROOM_ID
from jepaworld.envs.adapter import make_env
from jepaworld.envs.policies import data_policy

HERE = Path(__file__).resolve().parent
ENVS = {
    TWO_ROOM_ID: "numpy",
    PUSH_T_ID: "pymunk + PIL",
    REACHER_ID: "MuJoCo (OSMesa)",
    CUBE_ID: "MuJoCo (OSMesa)",
    str(HERE.parent / "examples" / "custom_env.py") + ":PuckEnv": "numpy, 96 x 128 resized",
}


def frames_per_second(env_id: str, steps: int, reps: int) -> list[float]:
    env = make_env(env_id, 64, **COLLECT_KWARGS.get(env_id, {}))
    rates = []
    for rep in range(reps + 1):  # the first repetition warms up (imports, contexts, caches)
        env.reset(seed=rep)
        policy = data_policy(env, np.random.default_rng(rep))
        start = time.perf_counter()
        for _ in range(steps):
            frame, *_ = env.step(policy())
        assert frame.shape == (64, 64, 3)
        if rep:
            rates.append(steps / (time.perf_counter() - start))
    env.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "env-throughput.json"))
    args = parser.parse_args()
    rows = []
    for env_id, engine in ENVS.items():
        rates = frames_per_second(env_id, args.steps, args.reps)
        rows.append(
            {"env": env_id, "engine": engine, "frames_per_second_median": statistics.median(rates), "runs": rates}
        )
        print(f"{env_id}: {statistics.median(rates):.0f} frames/s")
    report = {
        "steps": args.steps,
        "reps": args.reps,
        "load_average_at_start": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Env throughput: step + 64 x 64 frame, data policy, median of {args.reps} x {args.steps} steps",
        "",
        "| env | engine | frames/s |",
        "|---|---|---|",
        *[f"| {Path(r['env']).name} | {r['engine']} | {r['frames_per_second_median']:.0f} |" for r in rows],
        "",
        f"{report['cpus']} CPUs, load average {report['load_average_at_start']:.1f} at the start",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: planning time against samples x iterations x horizon, and predictor throughput against
the machine's matmul throughput measured in the same run.

Timing does not depend on the weights, so without ``--checkpoint`` it uses an untrained model of the
default architecture (``ModelConfig()``). Writes ``bench/results/planning-speed.json`` and a markdown
table beside it. Medians over ``--reps`` repetitions, all measured in this one run.

    python bench/planning_speed.py [--checkpoint CKPT] [--reps 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from jepaworld.cli.bench import FIRST_CEM
from jepaworld.config import to_dict
from jepaworld.eval.agents import model_functions
from jepaworld.models import ModelConfig, build_world_model
from jepaworld.planning import PLANNERS, PlannerConfig, build_planner
from jepaworld.planning.mpc import rollout_after
from jepaworld.train import load_checkpoint

HERE = Path(__file__).resolve().parent
CONTEXTS = (1, 2, 3)  # observed latents a plan starts from (eval --plan-context)
GRID = {"samples": (50, 100, 200, 400), "iterations": (2, 4, 8), "horizon": (4, 8, 16)}


def median_seconds(fn, reps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(m: int, k: int, n: int, reps: int) -> float:
    """fp32 ``[m, k] @ [k, n]`` throughput in GFLOP/s (2mkn FLOPs per product)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    inner = max(1, int(2e8 // (2 * m * k * n)))  # about 0.2 GFLOP per timed call

    def run():
        for _ in range(inner):
            torch.mm(a, b)

    return 2 * m * k * n * inner / median_seconds(run, reps) / 1e9


def rollout_throughput(rollout, z0: torch.Tensor, samples: int, horizon: int, a_dim: int, reps: int) -> dict:
    """Imagined latent steps per second for one batched rollout, and its achieved GFLOP/s."""
    z = z0.expand(samples, -1)
    actions = torch.rand(samples, horizon, a_dim) * 2 - 1
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            rollout(z, actions)
        seconds = median_seconds(lambda: rollout(z, actions), reps)
    flops = counter.get_total_flops()
    return {
        "samples": samples,
        "horizon": horizon,
        "ms": 1000 * seconds,
        "latent_steps_per_s": samples * horizon / seconds,
        "gflop": flops / 1e9,
        "gflops": flops / seconds / 1e9,
    }


def plan_ms(planner_config: PlannerConfig, encode_z, rollout, low, high, reps: int) -> float:
    planner = build_planner(planner_config, low, high, seed=0)
    z0, z_goal = encode_z
    return 1000 * median_seconds(lambda: planner.plan(z0, z_goal, rollout), reps, warmup=1)


def interleaved_plan_ms(config: PlannerConfig, encode_z, rollouts, low, high, reps: int) -> tuple[float, ...]:
    """Median ms per plan for each rollout in ``rollouts``, timed in turn (alternating order) so that
    machine noise falls on both alike."""
    planner = build_planner(config, low, high, seed=0)
    z0, z_goal = encode_z
    times = [[] for _ in rollouts]
    for rep in range(reps + 2):
        order = list(range(len(rollouts)))[:: 1 if rep % 2 else -1]
        for i in order:
            start = time.perf_counter()
            planner.plan(z0, z_goal, rollouts[i])
            if rep >= 2:  # the first two rounds warm up
                times[i].append(time.perf_counter() - start)
    return tuple(1000 * statistics.median(t) for t in times)


def context_rows(model, frameskip: int, a_dim: int, encode_z, low, high, reps: int) -> list[dict]:
    """The default planner's ms per plan started from C = 1, 2, 3 observed latents (``eval --plan-context C``),
    the history's latents and actions random, timed in turn."""
    z0 = encode_z[0]
    rollouts = []
    for context in CONTEXTS:
        _, rollout = model_functions(model, frameskip, "cpu", context=context)
        past_z, past_actions = torch.randn(context - 1, z0.numel()), torch.rand(context - 1, frameskip * a_dim)
        rollouts.append(rollout if context == 1 else rollout_after(rollout, past_z, past_actions))
    timed = interleaved_plan_ms(PlannerConfig(), encode_z, rollouts, low, high, reps)
    return [
        {"context": context, "plan_ms": ms, "ratio_to_context_1": ms / timed[0]}
        for context, ms in zip(CONTEXTS, timed, strict=True)
    ]


def fit(rows: list[dict]) -> dict:
    """Least squares ``ms = a + b * samples * iterations * horizon`` over the grid."""
    work = np.array([r["samples"] * r["iterations"] * r["horizon"] for r in rows], dtype=float)
    ms = np.array([r["plan_ms"] for r in rows])
    design = np.stack([np.ones_like(work), work], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, ms, rcond=None)
    predicted = design @ np.array([a, b])
    r2 = 1 - ((ms - predicted) ** 2).sum() / ((ms - ms.mean()) ** 2).sum()
    return {"ms_fixed": float(a), "us_per_candidate_step": float(1000 * b), "r2": float(r2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="a trained checkpoint (default: untrained ModelConfig())")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per figure (the median is kept)")
    parser.add_argument("--results", default=str(HERE / "results"), help="where the JSON/markdown go")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.checkpoint:
        model, info = load_checkpoint(args.checkpoint, "cpu")
        model_config = info.model
    else:
        model_config = ModelConfig()
        model = build_world_model(model_config).eval()
    frameskip, a_dim = model_config.frameskip, model_config.action_dim // model_config.frameskip
    encode, rollout = model_functions(model, frameskip, "cpu", context=1)
    frames = np.random.default_rng(0).integers(0, 256, (2, model_config.image_size, model_config.image_size, 3))
    z0, z_goal = encode(frames[0].astype(np.uint8)), encode(frames[1].astype(np.uint8))
    low, high = -np.ones(a_dim, np.float32), np.ones(a_dim, np.float32)
    default = PlannerConfig()
    started = time.perf_counter()

    width = model_config.predictor_width
    ceiling = {
        "peak_gflops_2048": matmul_gflops(2048, 2048, 2048, args.reps),
        f"mlp_shape_gflops_{default.samples}x{width}x{4 * width}": matmul_gflops(
            default.samples, width, 4 * width, args.reps
        ),
    }
    throughput = [
        rollout_throughput(rollout, z0[None], n, default.horizon, a_dim, args.reps) for n in (50, 200, 800, 3200)
    ]
    for row in throughput:
        row["fraction_of_peak"] = row["gflops"] / ceiling["peak_gflops_2048"]

    grid = []
    for samples, iterations, horizon in itertools.product(*GRID.values()):
        config = PlannerConfig(
            samples=samples, iterations=iterations, horizon=horizon, elites=min(default.elites, samples)
        )
        grid.append(
            {
                "samples": samples,
                "iterations": iterations,
                "horizon": horizon,
                "plan_ms": plan_ms(config, (z0, z_goal), rollout, low, high, args.reps),
            }
        )
    compile_started = time.perf_counter()
    _, compiled = model_functions(model, frameskip, "cpu", context=1, compile=True)
    compile_seconds = time.perf_counter() - compile_started
    rows = [(name, PlannerConfig(planner=name)) for name in PLANNERS.names()] + [("cem 200x8 (first CEM)", FIRST_CEM)]
    planners = []
    for label, config in rows:
        eager_ms, compiled_ms = interleaved_plan_ms(config, (z0, z_goal), (rollout, compiled), low, high, args.reps)
        planners.append(
            {
                "planner": label,
                "plan_ms": eager_ms,
                "plan_ms_compiled": compiled_ms,
                "ms_per_env_step": eager_ms / frameskip,  # one plan per model step of frameskip env steps
                "ms_per_env_step_compiled": compiled_ms / frameskip,
            }
        )
    contexts = context_rows(model, frameskip, a_dim, (z0, z_goal), low, high, args.reps)
    first = planners[-1]["plan_ms"]
    for row in planners:
        row["speedup_vs_first_cem"] = first / row["plan_ms"]
    report = {
        "command": "python bench/planning_speed.py" + (f" --checkpoint {args.checkpoint}" if args.checkpoint else ""),
        "model": to_dict(model_config),
        "trained": bool(args.checkpoint),
        "default_planner": to_dict(default),
        "matmul_ceiling": ceiling,
        "rollout_throughput": throughput,
        "plan_grid": grid,
        "plan_grid_fit": fit(grid),
        "planners_at_defaults": planners,
        "plan_context": contexts,
        "compile_seconds": compile_seconds,
        "seconds": time.perf_counter() - started,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
    }
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "planning-speed.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "planning-speed.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    ceiling = report["matmul_ceiling"]
    peak = ceiling["peak_gflops_2048"]
    lines = [f"# `{report['command']}`", "", "## Predictor throughput against the matmul ceiling (same run)", ""]
    lines += [f"- fp32 matmul, {name.replace('_gflops', '')}: {value:.1f} GFLOP/s" for name, value in ceiling.items()]
    lines += [
        "",
        "| candidates x horizon | rollout ms | latent steps/s | GFLOP/s | of peak |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['samples']} x {r['horizon']} | {r['ms']:.1f} | {r['latent_steps_per_s']:,.0f} | "
        f"{r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}% |"
        for r in report["rollout_throughput"]
    ]
    fitted = report["plan_grid_fit"]
    lines += [
        "",
        "## Planning time (CEM) against samples x iterations x horizon",
        "",
        f"Fit: ms per plan = {fitted['ms_fixed']:.1f} + {fitted['us_per_candidate_step']:.2f} us x samples x "
        f"iterations x horizon (R^2 {fitted['r2']:.3f})",
        "",
        "| samples | iterations | horizon | ms per plan |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['samples']} | {r['iterations']} | {r['horizon']} | {r['plan_ms']:.1f} |" for r in report["plan_grid"]
    ]
    lines += ["", "## Every planner at default settings, eager and torch.compile'd (timed in turn)", ""]
    lines += [
        "| planner | ms per plan | ms per env step | speed-up over the first CEM | compiled ms per plan |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['planner']} | {r['plan_ms']:.1f} | {r['ms_per_env_step']:.1f} | {r['speedup_vs_first_cem']:.1f}x | "
        f"{r['plan_ms_compiled']:.1f} |"
        for r in report["planners_at_defaults"]
    ]
    lines += [
        "",
        "## The default planner started from C observed latents (`eval --plan-context C`, timed in turn)",
        "",
        "| context | ms per plan | against context 1 |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['context']} | {r['plan_ms']:.1f} | {r['ratio_to_context_1']:.2f}x |" for r in report["plan_context"]
    ]
    lines += ["", f"torch.compile took {report['compile_seconds']:.1f} s (once per process)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

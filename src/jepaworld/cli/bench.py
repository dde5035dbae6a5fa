"""``jepaworld bench SUITE``: every planner on one trained model, under the DESIGN.md protocol.

A suite fixes the env, the data and training recipe, the planners and the held-out seed block, so
the same command gives the same success counts (timings vary with the machine). It writes
``DIR/SUITE.json`` (``SUITE-quick.json`` with ``--quick``) and a markdown table beside it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jepaworld.cli.demo import DEMOS, DemoConfig, prepare_checkpoint
from jepaworld.config import check, option, to_dict
from jepaworld.eval import EvalConfig, evaluate
from jepaworld.eval.report import result_cells
from jepaworld.models import ModelConfig
from jepaworld.planning import PLANNERS, PlannerConfig


@dataclass(frozen=True)
class Suite:
    """One benchmark: a training recipe, the planners compared, and the evaluation budget."""

    demo: str
    recipe: DemoConfig
    model: ModelConfig
    planner: PlannerConfig
    episodes: int
    eval_seed: int
    planners: tuple[str, ...] = tuple(PLANNERS.names())


_FULL = Suite(
    demo="two-room",
    recipe=DemoConfig(progress=False),
    model=ModelConfig(),
    planner=PlannerConfig(),
    episodes=200,
    eval_seed=1,
)
_QUICK = Suite(
    demo="two-room",
    recipe=DemoConfig(collect_episodes=40, collect_steps=40, train_steps=100, batch_size=32, progress=False),
    model=ModelConfig(encoder_width=8, predictor_width=32, latent_dim=32, history=2, sigreg_projections=64),
    planner=PlannerConfig(samples=64, iterations=4, elites=8, icem_keep_elites=2),
    episodes=6,
    eval_seed=1,
)
SUITES = {"two-room": (_FULL, _QUICK)}


@dataclass(frozen=True)
class BenchConfig:
    """Where the suite writes and what it runs on."""

    quick: bool = option(False, "the small version of the suite (minutes; what CI runs)")
    out: str = option("bench/results", "directory for SUITE.json and SUITE.md")
    work: str = option("runs/bench", "scratch directory for the suite's data and checkpoints")
    device: str = option("auto", "torch device")
    progress: bool = option(True, "show progress bars")

    def __post_init__(self) -> None:
        check(bool(self.out), "out must name a directory")


def run_bench(name: str, config: BenchConfig) -> dict[str, Any]:
    """Train the suite's model, evaluate every planner, write ``out/NAME[-quick].json`` -> the results."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; available: {sorted(SUITES)}")
    suite = SUITES[name][1 if config.quick else 0]
    label = f"{name}-quick" if config.quick else name
    Path(config.work).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=config.work))
    recipe = dataclasses.replace(suite.recipe, device=config.device, progress=config.progress)
    started = time.perf_counter()
    checkpoint, timings = prepare_checkpoint(DEMOS[suite.demo], work, recipe, suite.model)
    rows, env_id, train_seconds = [], None, None
    for index, planner in enumerate(suite.planners):
        results = evaluate(
            EvalConfig(
                checkpoint=str(checkpoint),
                episodes=suite.episodes,
                seed=suite.eval_seed,
                oracle=index == 0,
                out=str(work / f"eval-{planner}"),
                device=config.device,
                progress=config.progress,
            ),
            dataclasses.replace(suite.planner, planner=planner),
        )
        env_id, train_seconds = results["env"], results["train_seconds"]
        for row in results["rows"]:
            if row["agent"] == "world_model":
                rows.append({"env": env_id, "planner": planner, **row})
            elif index == 0:  # the oracle and random rows do not depend on the planner compared
                label_planner = f"{planner} on true state" if row["agent"] == "oracle_planner" else row["agent"]
                rows.append({"env": env_id, "planner": label_planner, **row})
    report = {
        "suite": name,
        "quick": config.quick,
        "env": env_id,
        "episodes": suite.episodes,
        "eval_seed_block": suite.eval_seed,
        "checkpoint": str(checkpoint),
        "train_seconds": train_seconds,
        **timings,
        "total_seconds": time.perf_counter() - started,
        "rows": rows,
        "recipe": to_dict(recipe),
        "model": to_dict(suite.model),
        "planner_settings": to_dict(suite.planner),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
        "command": f"jepaworld bench {name}" + (" --quick" if config.quick else ""),
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{label}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{label}.md").write_text(markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    """The suite's rows as a markdown table."""
    lines = [
        f"# `{report['command']}`: {report['env']}, {report['episodes']} held-out pairs per row "
        f"(seed block {report['eval_seed_block']})",
        "",
        "| planner | success | 95% CI | mean final distance (px) | plan ms / env step (median / p90) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {row['planner']} | {result_cells(row, p90=True)} |" for row in report["rows"]]
    lines += ["", f"training {report['train_seconds']:.0f} s; whole suite {report['total_seconds']:.0f} s"]
    return "\n".join(lines) + "\n"

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
from jepaworld.envs import TWO_ROOM_MAX_STEPS
from jepaworld.eval import EvalConfig, evaluate
from jepaworld.eval.report import result_cells
from jepaworld.models import ModelConfig
from jepaworld.planning import PLANNERS, PlannerConfig

#: The core loop's first planner (CEM, 200 candidates x 8 iterations): the reference for speed-ups.
FIRST_CEM = PlannerConfig(planner="cem", samples=200, iterations=8, elites=20)


@dataclass(frozen=True)
class Suite:
    """One benchmark: a training recipe, the planners compared, and the evaluation budget.

    Every registered planner runs with ``planner``'s settings (the same budget for all); ``extra``
    rows add labelled settings (the reference planner the speed-up is measured against).
    """

    demo: str
    recipe: DemoConfig
    model: ModelConfig
    planner: PlannerConfig
    episodes: int
    eval_seed: int
    extra: tuple[tuple[str, PlannerConfig], ...] = ()
    reference: str | None = None  # the row planning speed-ups are quoted against
    max_steps: int = TWO_ROOM_MAX_STEPS  # env step budget per episode
    goal_offset: int = 0  # 0: the env's own goals; K: the data policy's state K steps ahead (EvalConfig)

    def rows(self) -> list[tuple[str, PlannerConfig]]:
        """(label, settings) per compared row; the default planner first (it carries the oracle rows)."""
        names = sorted(PLANNERS.names(), key=lambda name: name != self.planner.planner)
        return [(name, dataclasses.replace(self.planner, planner=name)) for name in names] + list(self.extra)


_FULL = Suite(
    demo="two-room",
    recipe=DemoConfig(progress=False),
    model=ModelConfig(),
    planner=PlannerConfig(),
    episodes=200,
    eval_seed=1,
    extra=(("cem 200x8 (first CEM)", FIRST_CEM),),
    reference="cem 200x8 (first CEM)",
)
_QUICK = Suite(
    demo="two-room",
    recipe=DemoConfig(collect_episodes=40, collect_steps=40, train_steps=100, batch_size=32, progress=False),
    model=ModelConfig(encoder_width=8, predictor_width=32, latent_dim=32, history=2, sigreg_projections=64),
    planner=PlannerConfig(samples=64, iterations=4, elites=8, icem_keep_elites=2),
    episodes=6,
    eval_seed=1,
)
# LeWM's TwoRoom protocol (paper v3 App. F.1 and its eval config): goal 25 steps ahead, 50-step budget.
_SWM = dataclasses.replace(
    _FULL, demo="two-room-swm", extra=(), reference=None, max_steps=50, goal_offset=25, episodes=200
)
_SWM_QUICK = dataclasses.replace(_QUICK, demo="two-room-swm", max_steps=50, goal_offset=25)
SUITES = {"two-room": (_FULL, _QUICK), "two-room-swm": (_SWM, _SWM_QUICK)}


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
    for index, (row_label, planner) in enumerate(suite.rows()):
        results = evaluate(
            EvalConfig(
                checkpoint=str(checkpoint),
                episodes=suite.episodes,
                seed=suite.eval_seed,
                max_steps=suite.max_steps,
                goal_offset=suite.goal_offset,
                oracle=index == 0,
                out=str(work / f"eval-{index}-{planner.planner}"),
                device=config.device,
                progress=config.progress,
            ),
            planner,
        )
        env_id, train_seconds = results["env"], results["train_seconds"]
        for row in results["rows"]:
            if row["agent"] == "world_model":
                rows.append({"env": env_id, "planner": row_label, "settings": to_dict(planner), **row})
            elif index == 0:  # the oracle and random rows do not depend on the planner compared
                label_planner = f"{row_label} on true state" if row["agent"] == "oracle_planner" else row["agent"]
                rows.append({"env": env_id, "planner": label_planner, **row})
    speedups = speedups_against(rows, suite.reference)
    report = {
        "suite": name,
        "quick": config.quick,
        "env": env_id,
        "episodes": suite.episodes,
        "eval_seed_block": suite.eval_seed,
        "max_steps": suite.max_steps,
        "goal_offset": suite.goal_offset,
        "checkpoint": str(checkpoint),
        "train_seconds": train_seconds,
        **timings,
        "total_seconds": time.perf_counter() - started,
        "rows": rows,
        "reference": suite.reference,
        "speedup_vs_reference": speedups,
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


def speedups_against(rows: list[dict[str, Any]], reference: str | None) -> dict[str, float]:
    """Median planning ms per env step of ``reference`` over each planner row's (higher is faster)."""
    by_label = {row["planner"]: row for row in rows if "settings" in row}
    if reference not in by_label:
        return {}
    base = by_label[reference]["plan_ms_per_step_median"]
    return {label: base / row["plan_ms_per_step_median"] for label, row in by_label.items() if label != reference}


def goal_text(goal_offset: int) -> str:
    if goal_offset:
        return f"the state the data policy reaches {goal_offset} env steps from the same start"
    return "the env's own (opposite room)"


def markdown(report: dict[str, Any]) -> str:
    """The suite's rows as a markdown table."""
    lines = [
        f"# `{report['command']}`: {report['env']}, {report['episodes']} held-out pairs per row "
        f"(seed block {report['eval_seed_block']})",
        "",
        f"Goals: {goal_text(report.get('goal_offset', 0))}; budget {report.get('max_steps')} env steps.",
        "",
        "| planner | success | 95% CI | mean final distance (px) | plan ms / env step (median / p90) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {row['planner']} | {result_cells(row, p90=True)} |" for row in report["rows"]]
    if report.get("speedup_vs_reference"):
        lines += ["", f"Planning speed-up over {report['reference']} (ratio of medians, same run):"]
        lines += [f"- {label}: {ratio:.1f}x" for label, ratio in report["speedup_vs_reference"].items()]
    lines += ["", f"training {report['train_seconds']:.0f} s; whole suite {report['total_seconds']:.0f} s"]
    return "\n".join(lines) + "\n"

"""``jepaworld demo two-room``: collect -> train -> evaluate -> report, in one command."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jepaworld.config import check, option
from jepaworld.data import CollectConfig, collect
from jepaworld.envs import SWM_TWO_ROOM_ID, TWO_ROOM_ID
from jepaworld.eval import EvalConfig, evaluate
from jepaworld.eval.report import markdown_table
from jepaworld.models import ModelConfig
from jepaworld.planning import PlannerConfig
from jepaworld.train import TrainConfig, train

DEMOS = {"two-room": TWO_ROOM_ID, "two-room-swm": SWM_TWO_ROOM_ID}


@dataclass(frozen=True)
class DemoConfig:
    """The whole loop at the settings that meet the Two-Room targets on a 2-core CPU."""

    out: str = option("runs/demo-two-room", "directory for data, run, results.json, results.md, GIFs")
    collect_episodes: int = option(400, "episodes of the data policy to collect")
    collect_steps: int = option(100, "env steps per collected episode")
    train_steps: int = option(1200, "optimizer steps")
    batch_size: int = option(128, "windows per training step")
    eval_episodes: int = option(100, "held-out start/goal pairs to evaluate on")
    seed: int = option(0, "seed of collection, training and the held-out evaluation block")
    gifs: int = option(3, "planned episodes saved as GIFs")
    oracle: bool = option(True, "also run the oracle rows")
    device: str = option("auto", "torch device")
    progress: bool = option(True, "show progress bars")

    def __post_init__(self) -> None:
        check(self.collect_episodes >= 2, f"collect_episodes must be >= 2, got {self.collect_episodes}")
        check(self.train_steps >= 1 and self.eval_episodes >= 1, "train_steps and eval_episodes must be >= 1")


def prepare_checkpoint(
    env_id: str, out: Path, config: DemoConfig, model_config: ModelConfig
) -> tuple[Path, dict[str, float]]:
    """Collect ``out/data.h5`` and train ``out/run`` with the demo's settings -> (checkpoint, timings)."""
    started = time.perf_counter()
    data = collect(
        CollectConfig(
            env=env_id,
            episodes=config.collect_episodes,
            steps=config.collect_steps,
            seed=config.seed,
            out=str(out / "data.h5"),
            overwrite=True,
            progress=config.progress,
        )
    )
    timings = {"collect_seconds": time.perf_counter() - started}
    checkpoint = train(
        TrainConfig(
            data=str(data),
            out=str(out / "run"),
            steps=config.train_steps,
            batch_size=config.batch_size,
            seed=config.seed,
            device=config.device,
            checkpoint_every=max(1, config.train_steps // 4),
            progress=config.progress,
        ),
        model_config,
    )
    timings["train_wall_seconds"] = time.perf_counter() - started - timings["collect_seconds"]
    return checkpoint, timings


def run_demo(
    name: str, config: DemoConfig, model_config: ModelConfig | None = None, planner_config: PlannerConfig | None = None
) -> dict[str, Any]:
    """Run one demo end to end -> the evaluation results (also written to ``out/results.json``)."""
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; available: {sorted(DEMOS)}")
    out = Path(config.out)
    if (out / "results.json").exists() or (out / "run" / "latest").exists():
        raise FileExistsError(f"{out} already holds a demo; choose another --out or remove it")
    started = time.perf_counter()
    checkpoint, timings = prepare_checkpoint(DEMOS[name], out, config, model_config or ModelConfig())
    results = evaluate(
        EvalConfig(
            checkpoint=str(checkpoint),
            episodes=config.eval_episodes,
            seed=config.seed,
            oracle=config.oracle,
            gifs=config.gifs,
            out=str(out),
            device=config.device,
            progress=config.progress,
        ),
        planner_config or PlannerConfig(),
    )
    timings["total_seconds"] = time.perf_counter() - started
    results.update(timings, demo=name, demo_config=dataclasses.asdict(config))
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(
        markdown_table(results) + f"\nwhole demo (collect + train + evaluate): {timings['total_seconds']:.0f} s\n"
    )
    return results

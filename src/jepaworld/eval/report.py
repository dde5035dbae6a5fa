"""Human-readable outputs of an evaluation: the markdown table and GIFs of planned episodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np


def result_cells(row: dict[str, Any], p90: bool = False) -> str:
    """A results row as table cells: success, 95% CI, mean final distance, planning ms (median[ / p90])."""
    low, high = row["success_ci95"]
    ms = row["plan_ms_per_step_median"]
    timing = "-"
    distance = "-" if row["mean_final_distance"] is None else f"{row['mean_final_distance']:.2f}"
    if ms is not None:
        timing = f"{ms:.1f}" + (f" / {row['plan_ms_per_step_p90']:.1f}" if p90 else "")
    return (
        f"{row['successes']}/{row['episodes']} ({100 * row['success_rate']:.1f}%) | "
        f"[{100 * low:.1f}, {100 * high:.1f}] | {distance} | {timing}"
    )


def _seeds(results: dict[str, Any]) -> str:
    """The block of pairs, and the planner's seed where it differs (``eval --planner-seed``)."""
    planner = results.get("planner_seed", results["seed"])
    return f"seed block {results['seed']}" + ("" if planner == results["seed"] else f", planner seed {planner}")


def markdown_table(results: dict[str, Any]) -> str:
    """The results of ``evaluate`` as a short markdown table (one row per agent)."""
    lines = [
        f"# {results['env']}: {results['episodes']} held-out start/goal pairs ({_seeds(results)})",
        "",
        "| agent | success | 95% CI | mean final distance | plan ms / env step (median) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {row['agent']} | {result_cells(row)} |" for row in results["rows"]]
    if results.get("goal_offset"):
        key, radius = results["eval"]["state_key"], results["success_radius"]
        judged = "the env's own test" if radius is None else f"info[{key!r}] within {radius:g} of the goal's"
        starts = (
            f"starts: where the data policy is 0-{results['start_offset']} steps (drawn per pair) after reset; "
            if results.get("start_offset")
            else ""
        )
        lines += [
            "",
            f"{starts}goals: where the data policy goes in {results['goal_offset']} steps from each start; "
            f"success: {judged}",
        ]
    start = results["rows"][0].get("mean_start_distance") if results["rows"] else None
    if start is not None:
        lines += ["", f"mean distance to the goal at the start: {start:.2f} (every agent on the same seeds)"]
    if results.get("metric") == "steps":
        lines += ["", f"energies in the steps metric, measured on `{results['metric_data']}`"]
    lines += ["", f"checkpoint: `{results['checkpoint']}`; training wall time {results['train_seconds']:.0f} s"]
    if ensemble := results.get("eval", {}).get("ensemble"):
        members = ", ".join(f"`{m}`" for m in ensemble)
        if results["eval"].get("ensemble_score") == "worst":
            how = "each plan scored by the worst of its predictor's rollout and those of"
        else:
            how = "the mean rollout of its predictor and those of"
        lines += ["", f"imagined by an ensemble: {how} {members}"]
    return "\n".join(lines) + "\n"


def write_gif(path: str | Path, frames: list[np.ndarray], goal: np.ndarray, scale: int = 3, fps: int = 20) -> Path:
    """Frames ``[H, W, 3]`` uint8 with the goal frame beside each -> an animated GIF at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gap = np.full((goal.shape[0], 2, 3), 255, np.uint8)
    tiles = [np.concatenate([f, gap, goal], axis=1).repeat(scale, 0).repeat(scale, 1) for f in frames]
    imageio.mimsave(path, tiles, duration=1000 / fps, loop=0)
    return path

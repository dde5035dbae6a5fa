"""``jepaworld data inspect``: is this episode file worth training on?

One pass over the file, an episode at a time (nothing loads whole): sizes, action statistics per
dimension, frozen frames (a frame equal to the one before) and repeated episodes, and, where the file
has a state column, a 2-D occupancy picture of the first two state quantities. Warnings say when the
data looks too thin to learn from, and why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from jepaworld.config import check, option
from jepaworld.data.episodes import EpisodeFile

#: Below these, ``inspect`` warns (each warning says which figure and which threshold).
MIN_TRANSITIONS = 2000
MIN_OCCUPANCY = 0.3
MAX_FROZEN = 0.2
MIN_ACTION_SPREAD = 0.05
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class InspectConfig:
    """Diagnose an episode file."""

    path: str = option("data/two-room.h5", "episode file to inspect")
    out: str = option("", "directory for inspect.json and coverage.png (default: PATH without .h5, + .inspect)")
    grid: int = option(16, "cells per side of the state-coverage grid")
    axes: tuple[str, ...] = option((), "two state quantities for the coverage picture (default: the first two)")

    def __post_init__(self) -> None:
        check(2 <= self.grid <= 256, f"grid must be in [2, 256], got {self.grid}")
        check(len(self.axes) in (0, 2), f"axes: give two state quantities (x then y), got {list(self.axes)}")


class _Moments:
    """Running count, mean, variance (Chan et al.), min and max per column, fed in chunks."""

    def __init__(self, dim: int) -> None:
        self.n, self.mean, self.m2 = 0, np.zeros(dim), np.zeros(dim)
        self.low, self.high = np.full(dim, np.inf), np.full(dim, -np.inf)

    def add(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        rows = rows.astype(np.float64)
        n, mean, m2 = len(rows), rows.mean(0), rows.var(0) * len(rows)
        delta, total = mean - self.mean, self.n + n
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta**2 * self.n * n / total
        self.n = total
        self.low, self.high = np.minimum(self.low, rows.min(0)), np.maximum(self.high, rows.max(0))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))


def _column_stats(moments: _Moments, names: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "mean": float(moments.mean[i]),
            "std": float(moments.std[i]),
            "min": float(moments.low[i]),
            "max": float(moments.high[i]),
        }
        for i, name in enumerate(names)
    ]


def inspect_episodes(config: InspectConfig) -> dict[str, Any]:
    """Diagnose ``config.path``; write ``inspect.json`` (and ``coverage.png`` when there is state) -> the report."""
    path = Path(config.path)
    out = Path(config.out) if config.out else path.with_suffix(".inspect")
    with EpisodeFile(path) as episodes:
        meta = episodes.metadata
        action_dim, lengths = episodes.action_dim, np.diff(np.concatenate([[0], episodes.episode_ends]))
        low, high = episodes.action_low, episodes.action_high
        actions, saturated = _Moments(action_dim), np.zeros(action_dim)
        frozen, seen, repeated = 0, set(), 0
        states = _Moments(episodes.state_dim) if episodes.has_state else None
        for episode in episodes.episodes():
            frames, acts = episode["frames"], episode["actions"].astype(np.float64)
            actions.add(acts)
            if action_dim:
                saturated += np.sum((acts <= low + 1e-6) | (acts >= high - 1e-6), axis=0)
            frozen += int(np.sum(np.all(frames[1:] == frames[:-1], axis=(1, 2, 3))))
            digest = hashlib.sha1(np.ascontiguousarray(frames)).hexdigest()
            repeated += digest in seen
            seen.add(digest)
            if states is not None:
                states.add(episode["state"])
        state_names = meta["extra"].get("state_names") or []
        transitions = int(np.sum(lengths - 1))
        report: dict[str, Any] = {
            "path": str(path),
            "env_id": episodes.env_id,
            "episodes": episodes.num_episodes,
            "frames": episodes.num_frames,
            "transitions": transitions,
            "frame_shape": list(episodes.frame_shape),
            "episode_length": {
                "min": int(lengths.min()),
                "median": float(np.median(lengths)),
                "max": int(lengths.max()),
            },
            "actions": [
                {
                    **row,
                    "low": float(low[i]),
                    "high": float(high[i]),
                    "at_bounds": float(saturated[i] / max(actions.n, 1)),
                }
                for i, row in enumerate(_column_stats(actions, [f"a{i}" for i in range(action_dim)]))
            ],
            "frozen_frames": frozen,
            "frozen_fraction": frozen / max(transitions, 1),
            "repeated_episodes": repeated,
            "state": None,
        }
        if states is not None:
            report["state"] = _coverage(episodes, states, state_names, config, out)
    report["warnings"] = _warnings(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inspect.json").write_text(json.dumps(report, indent=2) + "\n")
    report["out"] = str(out)
    return report


def _coverage(
    episodes: EpisodeFile, moments: _Moments, names: list[str], config: InspectConfig, out: Path
) -> dict[str, Any]:
    """Occupancy of two state quantities over their range (a second pass over the state column, in chunks);
    a PNG of it, darker where visited more."""
    dim, grid = len(moments.mean), config.grid
    names = (list(names) + [f"s{i}" for i in range(dim)])[:dim]
    result: dict[str, Any] = {"quantities": _column_stats(moments, names), "grid": grid}
    if config.axes and not set(config.axes) <= set(names):
        raise ValueError(f"axes: expected two of the state quantities {names}, got {list(config.axes)}")
    if dim < 2:
        return result
    x, y = (names.index(a) for a in config.axes) if config.axes else (0, 1)
    bounds = [[moments.low[y], moments.high[y] + 1e-9], [moments.low[x], moments.high[x] + 1e-9]]
    counts = np.zeros((grid, grid))
    for start in range(0, episodes.num_frames, CHUNK_ROWS):
        rows = episodes.rows("state", start, min(start + CHUNK_ROWS, episodes.num_frames))
        counts += np.histogram2d(rows[:, y], rows[:, x], bins=grid, range=bounds)[0]
    result["occupancy"] = float(np.mean(counts > 0))
    picture = (255 * (1 - np.log1p(counts) / max(np.log1p(counts.max()), 1e-9))).astype(np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    scale = max(1, 256 // grid)
    Image.fromarray(picture.repeat(scale, 0).repeat(scale, 1)).save(out / "coverage.png")
    result["picture"] = str(out / "coverage.png")
    result["axes"] = {"x": names[x], "y": names[y]}
    return result


def _warnings(report: dict[str, Any]) -> list[str]:
    warnings = []
    if report["transitions"] < MIN_TRANSITIONS:
        warnings.append(
            f"only {report['transitions']} transitions (fewer than {MIN_TRANSITIONS}): "
            "collect more episodes to learn from"
        )
    if report["frozen_fraction"] > MAX_FROZEN:
        warnings.append(
            f"{100 * report['frozen_fraction']:.0f}% of frames repeat the frame before (more than "
            f"{100 * MAX_FROZEN:.0f}%): the data policy or the env is stuck much of the time"
        )
    if report["repeated_episodes"]:
        warnings.append(f"{report['repeated_episodes']} episodes repeat an earlier one frame for frame (same seed?)")
    for row in report["actions"]:
        spread = row["std"] / max(row["high"] - row["low"], 1e-9)
        if spread < MIN_ACTION_SPREAD:
            warnings.append(
                f"action {row['name']} barely varies (std {row['std']:.3g} is {100 * spread:.1f}% of its range, under "
                f"{100 * MIN_ACTION_SPREAD:.0f}%): the model cannot learn what it does"
            )
    occupancy = (report["state"] or {}).get("occupancy")
    if occupancy is not None and occupancy < MIN_OCCUPANCY:
        warnings.append(
            f"the data visits {100 * occupancy:.0f}% of the state grid (under {100 * MIN_OCCUPANCY:.0f}%): coverage "
            "is too thin; goals outside it will be hard to plan to (longer episodes, a more exploratory policy)"
        )
    return warnings


def markdown(report: dict[str, Any]) -> str:
    """The report as a short text for the terminal."""
    length = report["episode_length"]
    lines = [
        f"# {report['path']} ({report['env_id']})",
        "",
        f"{report['episodes']} episodes, {report['frames']} frames {report['frame_shape']}, episode length "
        f"{length['min']}..{length['max']} (median {length['median']:g})",
        f"frozen frames: {report['frozen_frames']} ({100 * report['frozen_fraction']:.1f}%); repeated episodes: "
        f"{report['repeated_episodes']}",
        "",
        "| action | mean | std | min | max | bounds | at bounds |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['name']} | {r['mean']:.3f} | {r['std']:.3f} | {r['min']:.3f} | {r['max']:.3f} | "
        f"[{r['low']:g}, {r['high']:g}] | {100 * r['at_bounds']:.1f}% |"
        for r in report["actions"]
    ]
    state = report["state"]
    if state:
        lines += ["", "| state | mean | std | min | max |", "|---|---|---|---|---|"]
        lines += [
            f"| {q['name']} | {q['mean']:.3f} | {q['std']:.3f} | {q['min']:.3f} | {q['max']:.3f} |"
            for q in state["quantities"]
        ]
        if "occupancy" in state:
            lines += [
                "",
                f"coverage of ({state['axes']['x']}, {state['axes']['y']}): {100 * state['occupancy']:.0f}% of a "
                f"{state['grid']}x{state['grid']} grid; picture: {state['picture']}",
            ]
    else:
        lines += ["", "no state column: coverage cannot be measured"]
    lines += [""] + ([f"WARNING: {w}" for w in report["warnings"]] or ["no warnings"])
    return "\n".join(lines) + "\n"

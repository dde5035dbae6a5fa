"""Intuitive-physics evaluation: is a model more surprised by the impossible video of each matched pair?

A pair folder holds ``NAME_possible.<ext>`` beside ``NAME_impossible.<ext>`` (as IntPhys-style datasets
are distributed) and, optionally, ``pairs.json`` naming each pair's violation type and event frame.
Without it a pair's type is ``unlabelled`` and its event is the first frame where the two videos
differ. A pair is scored correct when the impossible video's surprise after the event (its maximum,
or its mean) is above the possible one's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from jepaworld.data import EpisodeWriter
from jepaworld.data.videos import VIDEO_SUFFIXES, VideoError, read_video, write_video
from jepaworld.envs import physics_suite
from jepaworld.eval.stats import wilson_interval

MANIFEST = "pairs.json"
SUITE_ENV_ID = "jepaworld/physics-suite"
#: Training clips are drawn with seeds below this; evaluation pairs with seeds at or above it.
PAIR_SEED_BASE = 2**31


@dataclass(frozen=True)
class VideoPair:
    """Frames ``[T, H, W, 3]`` uint8 of both videos (same length), the violation type, the event frame
    and, where the manifest names it, the variant (``vanish``, ``stop``, ...)."""

    name: str
    violation: str
    possible: np.ndarray
    impossible: np.ndarray
    event: int
    variant: str = ""


def write_training_clips(path: str | os.PathLike, clips: int, seed: int, progress: bool = True) -> Path:
    """``clips`` possible videos, an equal share of each scene family -> an action-free episode file with
    the primary ball's state ``[x, y, vx, vy]`` (for ``jepaworld probe``)."""
    writer = EpisodeWriter(
        path,
        frame_shape=(physics_suite.SIZE, physics_suite.SIZE, 3),
        action_dim=0,
        state_dim=len(physics_suite.STATE_NAMES),
        env_id=SUITE_ENV_ID,
        action_low=[],
        action_high=[],
        seed=seed,
        extra={"source": "physics-suite", "fps": physics_suite.FPS, "state_names": list(physics_suite.STATE_NAMES)},
        overwrite=True,
    )
    with writer:
        for i in tqdm(range(clips), desc="clips", unit="clip", disable=not progress):
            rng = np.random.default_rng([seed, i])
            violation = physics_suite.VIOLATIONS[i % len(physics_suite.VIOLATIONS)]
            clip = physics_suite.make_possible(violation, rng)
            writer.add_episode(clip.frames, np.zeros((len(clip.frames) - 1, 0), np.float32), clip.state, i)
    return writer.path


def write_pairs(folder: str | os.PathLike, pairs_per_type: int, seed: int, progress: bool = True) -> Path:
    """Generate the suite as video files plus ``pairs.json`` (types, variants, event frames) -> the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    total = pairs_per_type * len(physics_suite.VIOLATIONS)
    bar = tqdm(total=total, desc="pairs", unit="pair", disable=not progress)
    for v, violation in enumerate(physics_suite.VIOLATIONS):
        for i in range(pairs_per_type):
            pair = physics_suite.make_pair(violation, np.random.default_rng([PAIR_SEED_BASE + seed, v, i]))
            name = f"{violation}_{i:04d}"
            write_video(folder / f"{name}_possible.mp4", pair.possible.frames, physics_suite.FPS)
            write_video(folder / f"{name}_impossible.mp4", pair.impossible.frames, physics_suite.FPS)
            entries.append({"name": name, "violation": violation, "variant": pair.variant, "event": pair.event})
            bar.update(1)
    bar.close()
    manifest = {"fps": physics_suite.FPS, "pairs": entries}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return folder


def _first_difference(a: np.ndarray, b: np.ndarray, tolerance: float = 2.0) -> int:
    """First frame whose mean absolute difference exceeds ``tolerance`` (0-255 scale; codecs add noise)."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=(1, 2, 3))
    over = np.flatnonzero(diff > tolerance)
    return int(over[0]) if len(over) else 0


def load_pairs(folder: str | os.PathLike, size: int, fps: float | None) -> tuple[list[VideoPair], list[dict]]:
    """Read every complete pair in ``folder`` -> (pairs, skipped ``{"name", "reason"}``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"pair folder {folder} does not exist or is not a directory")
    manifest = {}
    if (folder / MANIFEST).exists():
        try:
            manifest = {e["name"]: e for e in json.loads((folder / MANIFEST).read_text())["pairs"]}
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{folder / MANIFEST}: expected {{'pairs': [{{'name', 'violation', 'event'}}]}}") from err
    videos = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES}
    names = sorted(stem.removesuffix("_possible") for stem in videos if stem.endswith("_possible"))
    if not names:
        raise VideoError(f"{folder}: no NAME_possible.<video> files; expected pairs NAME_possible / NAME_impossible")
    pairs, skipped = [], []
    for name in names:
        possible, impossible = videos[f"{name}_possible"], videos.get(f"{name}_impossible")
        try:
            if impossible is None:
                raise VideoError(f"{name}: {possible.name} has no {name}_impossible video beside it")
            a, b = read_video(possible, size, fps), read_video(impossible, size, fps)
            if len(a) != len(b) or len(a) < 3:
                raise VideoError(f"{name}: the videos have {len(a)} and {len(b)} frames; expected equal, >= 3")
        except VideoError as err:
            skipped.append({"name": name, "reason": str(err)})
            continue
        entry = manifest.get(name, {})
        event = int(entry["event"]) if "event" in entry else _first_difference(a, b)
        pairs.append(VideoPair(name, entry.get("violation", "unlabelled"), a, b, event, entry.get("variant", "")))
    return pairs, skipped


SurpriseFn = Callable[[np.ndarray], np.ndarray]  # frames [T, H, W, 3] uint8 -> surprise [T - 1]


def world_model_surprise(model, device: torch.device | str = "cpu") -> SurpriseFn:
    """Latent prediction error per step of an action-free world model (``WorldModel.surprise``)."""

    @torch.inference_mode()
    def surprise(frames: np.ndarray) -> np.ndarray:
        obs = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)[None].to(device)
        return model.surprise(obs)[0].float().cpu().numpy()

    return surprise


def score_pairs(surprise: SurpriseFn, pairs: list[VideoPair]) -> dict:
    """Pairwise accuracy (by max and by mean surprise after the event), overall and per type, with 95%
    Wilson intervals; chance is 0.5."""
    rows = []
    for pair in pairs:
        s_possible, s_impossible = surprise(pair.possible), surprise(pair.impossible)
        after = slice(max(pair.event - 1, 0), None)  # surprise[t] is about frame t + 1
        rows.append(
            {
                "name": pair.name,
                "violation": pair.violation,
                "variant": pair.variant,
                "event": pair.event,
                "max": [float(s_possible[after].max()), float(s_impossible[after].max())],
                "mean": [float(s_possible[after].mean()), float(s_impossible[after].mean())],
            }
        )
    return {
        "pairs": len(rows),
        "chance": 0.5,
        "by_max": accuracy(rows, "max"),
        "by_mean": accuracy(rows, "mean"),
        "rows": rows,
    }


def accuracy(rows: list[dict], key: str, by: str = "violation") -> dict:
    """Share of ``score_pairs`` rows whose impossible video is the more surprising by ``key`` (max or
    mean), per value of ``by`` (violation or variant) and overall, with 95% Wilson intervals."""
    groups: dict[str, list[bool]] = {}
    for row in rows:
        correct = row[key][1] > row[key][0]
        groups.setdefault(row[by], []).append(correct)
        groups.setdefault("overall", []).append(correct)
    out = {}
    for group, hits in groups.items():
        low, high = wilson_interval(sum(hits), len(hits))
        out[group] = {"accuracy": sum(hits) / len(hits), "ci95": [low, high], "pairs": len(hits)}
    return out

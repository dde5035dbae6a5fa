"""What the dataset importers share: their options, their error, and actions scaled to ``[-1, 1]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jepaworld.config import check, option


class DatasetError(ValueError):
    """A dataset on disk that cannot be imported; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ImportConfig:
    """Options every importer takes (each adds its own)."""

    path: str = option("", "the dataset on disk")
    out: str = option("data/imported.h5", "episode file to write")
    image_size: int = option(64, "frames are centre-cropped and resized to this many pixels square")
    max_episodes: int = option(0, "import at most this many episodes (0: all)")
    overwrite: bool = option(False, "replace an existing file at --out")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        check(bool(self.path), f"give the dataset to import (PATH); {self.path_help}")
        check(self.image_size >= 8, f"image_size must be >= 8, got {self.image_size}")
        check(self.max_episodes >= 0, f"max_episodes must be >= 0, got {self.max_episodes}")

    path_help = "a dataset folder"


class ActionRange:
    """The running min and max of action rows ``[N, A]``; then ``normalise`` maps ``[min, max]`` to ``[-1, 1]``.

    A dimension that never varies keeps scale 1 (it maps to 0). ``metadata()`` is what a user needs to
    map planned actions back: ``raw = centre + scale * normalised``.
    """

    def __init__(self) -> None:
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None

    def add(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions, np.float64).reshape(len(actions), -1)
        if not np.all(np.isfinite(actions)):
            raise ValueError(f"actions must be finite numbers; found {np.sum(~np.isfinite(actions))} that are not")
        if self.low is not None and actions.shape[1] != len(self.low):
            raise ValueError(f"actions changed size from {len(self.low)} to {actions.shape[1]} between episodes")
        low, high = actions.min(0), actions.max(0)
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)

    @property
    def dim(self) -> int:
        if self.low is None:
            raise ValueError("no actions seen")
        return len(self.low)

    @property
    def centre(self) -> np.ndarray:
        return (self.low + self.high) / 2

    @property
    def scale(self) -> np.ndarray:
        half = (self.high - self.low) / 2
        return np.where(half > 0, half, 1.0)

    def normalise(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions, np.float64).reshape(len(actions), -1)
        return np.clip((actions - self.centre) / self.scale, -1.0, 1.0).astype(np.float32)

    def metadata(self, names: Any = None) -> dict[str, Any]:
        return {
            "kind": "min-max to [-1, 1]",
            "centre": self.centre.tolist(),
            "scale": self.scale.tolist(),
            "raw_low": self.low.tolist(),
            "raw_high": self.high.tolist(),
            "names": names if isinstance(names, list) else None,
        }

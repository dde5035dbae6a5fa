"""Episodes on disk: the file format, windows for training, and collection."""

from jepaworld.data.collect import HELD_OUT_SEED_BASE, CollectConfig, collect
from jepaworld.data.episodes import EpisodeFile, EpisodeFileError, EpisodeWriter
from jepaworld.data.windows import WindowDataset
from jepaworld.envs.adapter import make_env

__all__ = [
    "HELD_OUT_SEED_BASE",
    "CollectConfig",
    "EpisodeFile",
    "EpisodeFileError",
    "EpisodeWriter",
    "WindowDataset",
    "collect",
    "make_env",
]

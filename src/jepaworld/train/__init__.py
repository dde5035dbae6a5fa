"""Training: the loop, its schedule, and checkpoints."""

from jepaworld.train.checkpoint import CheckpointInfo, load_checkpoint, read_info, save_checkpoint
from jepaworld.train.trainer import TrainConfig, resolve_device, train

__all__ = [
    "CheckpointInfo",
    "TrainConfig",
    "load_checkpoint",
    "read_info",
    "resolve_device",
    "save_checkpoint",
    "train",
]

"""Learning from video without actions: import a folder of videos, then train an action-free world model.

The model is the same JEPA as the action-conditioned one, with an empty action: the encoder maps
frames to latents, the causal predictor maps the latent history to the next latent, and SIGReg keeps
the latents from collapsing; there is no pixel loss. Its encoder can start an action-conditioned
model (``jepaworld train --init-encoder RUN``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from jepaworld.config import check, option
from jepaworld.data import EpisodeFile
from jepaworld.data.videos import VideoImportConfig, import_videos
from jepaworld.models import ModelConfig
from jepaworld.train.trainer import TrainConfig, train


@dataclass(frozen=True)
class PretrainConfig:
    """Where the videos are and where their frames go."""

    videos: str = option("", "folder of video files (mp4, webm, avi, mkv, mov; searched recursively)")
    data: str = option("", "episode file the frames are imported into (default: OUT/videos.h5; reused if present)")

    def __post_init__(self) -> None:
        check(bool(self.videos), "pretrain needs --videos DIR, a folder of video files")


def pretrain(config: PretrainConfig, video: VideoImportConfig, train_config: TrainConfig, model: ModelConfig) -> Path:
    """Import (once) and train -> the final checkpoint. The model's ``image_size`` decides the frame size."""
    data = Path(config.data) if config.data else Path(train_config.out) / "videos.h5"
    if video.image_size != model.image_size:
        video = dataclasses.replace(video, image_size=model.image_size)
    if data.exists():
        with EpisodeFile(data) as episodes:
            if episodes.action_dim != 0 or episodes.frame_shape[0] != model.image_size:
                raise ValueError(
                    f"{data} exists but is not action-free {model.image_size}px video frames "
                    f"(actions of size {episodes.action_dim}, frames {list(episodes.frame_shape)}); "
                    f"choose another --data"
                )
        print(f"reusing the frames already imported in {data}")
    else:
        summary = import_videos(config.videos, data, video, progress=train_config.progress)
        print(
            f"imported {summary['imported']} of {summary['videos']} videos ({summary['frames']} frames, "
            f"{summary['episodes']} episodes) into {data}; skipped {len(summary['skipped'])}"
        )
        for skip in summary["skipped"]:
            print(f"  skipped: {skip['reason']}")
    return train(dataclasses.replace(train_config, data=str(data)), model)

"""``jepaworld data merge``: several episode files of one env -> one, for training on them together.

Episodes are copied one at a time (nothing loads whole), in the order the inputs are given; ``repeat``
copies an input's episodes that many times, so that a small file (a planner's rollouts beside the data
policy's) weighs more in training's uniform draw of windows. The output is written as OUT.partial and
published only when every episode is in; the inputs are only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from jepaworld.config import check, option
from jepaworld.data.episodes import EpisodeFile, EpisodeFileError, EpisodeWriter


@dataclass(frozen=True)
class MergeConfig:
    """Merge episode files of one env."""

    paths: tuple[str, ...] = option((), "episode files to merge, in order")
    out: str = option("data/merged.h5", "episode file to write")
    repeat: tuple[int, ...] = option((), "copies of each input's episodes, one number per input (default: 1 each)")
    overwrite: bool = option(False, "replace an existing file at --out")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        check(len(self.paths) >= 1, "give at least one episode file to merge")
        check(
            not self.repeat or len(self.repeat) == len(self.paths),
            f"--repeat gives one count per input: {len(self.paths)} inputs, got {len(self.repeat)} counts",
        )
        check(all(r >= 1 for r in self.repeat), f"--repeat counts must be >= 1, got {list(self.repeat)}")
        out = Path(self.out).resolve()
        check(
            all(Path(p).resolve() != out for p in self.paths),
            f"--out {self.out} is one of the inputs; write the merge to a new file",
        )


def _layout(f: EpisodeFile) -> dict[str, Any]:
    """What must agree between merged files."""
    return {
        "env_id": f.env_id,
        "frame shape": list(f.frame_shape),
        "action size": f.action_dim,
        "action low": f.action_low.tolist(),
        "action high": f.action_high.tolist(),
        "state size": f.state_dim if f.has_state else 0,
    }


def merge(config: MergeConfig) -> Path:
    """Write the merge of ``config.paths`` to ``config.out`` -> the path written."""
    repeat = config.repeat or (1,) * len(config.paths)
    files = []
    try:
        for path in config.paths:
            files.append(EpisodeFile(path))
        first = _layout(files[0])
        for path, f in zip(config.paths[1:], files[1:], strict=True):
            for key, value in _layout(f).items():
                if value != first[key]:
                    raise EpisodeFileError(
                        f"{path}: {key} {value}, but {config.paths[0]} has {first[key]}; "
                        "merged files must come from one env with the same frames, actions and state"
                    )
        extra = files[0].metadata["extra"]
        extra["merged_from"] = [
            {"path": str(path), "episodes": f.num_episodes, "repeat": r, "extra": f.metadata["extra"]}
            for path, f, r in zip(config.paths, files, repeat, strict=True)
        ]
        writer = EpisodeWriter(
            config.out,
            frame_shape=tuple(first["frame shape"]),
            action_dim=first["action size"],
            state_dim=first["state size"],
            env_id=first["env_id"],
            action_low=files[0].action_low,
            action_high=files[0].action_high,
            seed=int(files[0].metadata.get("seed", 0)),
            extra=extra,
            overwrite=config.overwrite,
        )
        total = sum(f.num_episodes * r for f, r in zip(files, repeat, strict=True))
        with writer, tqdm(total=total, desc="merge", unit="ep", disable=not config.progress) as bar:
            for f, r in zip(files, repeat, strict=True):
                seeds = f.episode_seeds
                for _ in range(r):
                    for i in range(f.num_episodes):
                        episode = f.episode(i)
                        writer.add_episode(episode["frames"], episode["actions"], episode.get("state"), int(seeds[i]))
                        bar.update()
    finally:
        for f in files:
            f.close()
    return writer.path

"""Import a LeRobot-format dataset from local disk (``meta/info.json``, parquet tables, mp4 videos).

Codebase versions v2.0 / v2.1 (one parquet table and one video per episode, named by the templates
in ``info.json``) and v3.0 (many episodes per file; ``meta/episodes/*.parquet`` says which rows and
which span of which video hold each episode). Each episode's frames are decoded from its video at
the table's timestamps; a timestamp with no frame within half a frame period is an error that names
the episode. Actions are scaled to ``[-1, 1]`` per dimension from their range in the data; the
centre and scale go in the file's metadata (``extra["action_normalisation"]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from jepaworld.config import option
from jepaworld.data.episodes import EpisodeWriter
from jepaworld.data.importing import ActionRange, DatasetError, ImportConfig
from jepaworld.data.videos import VideoError, frames_at

SUPPORTED_VERSIONS = ("v2.0", "v2.1", "v3.0")


@dataclass(frozen=True)
class LeRobotImportConfig(ImportConfig):
    """Import a LeRobot dataset folder into one episode file."""

    camera: str = option("", "video feature to use as frames (default: the first video feature in info.json)")
    action_key: str = option("action", "table column of the actions")
    state_key: str = option("observation.state", "table column stored as /state ('' for none; skipped if absent)")

    path_help = "the LeRobot dataset root, the folder with meta/info.json"


@dataclass(frozen=True)
class _Episode:
    index: int
    table: Path
    video: Path
    video_start: float  # seconds into the video where the episode begins (v3.0 packs several per file)


def _read_info(root: Path) -> dict[str, Any]:
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise DatasetError(f"{root}: no meta/info.json; expected the root folder of a LeRobot dataset")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{info_path}: not valid JSON ({err})") from err
    version = info.get("codebase_version")
    if version not in SUPPORTED_VERSIONS:
        raise DatasetError(
            f"{info_path}: codebase_version {version!r}; jepaworld imports LeRobot datasets of {SUPPORTED_VERSIONS}"
        )
    for key in ("fps", "features", "data_path", "video_path"):
        if info.get(key) is None:
            raise DatasetError(f"{info_path}: missing {key!r}; a video dataset's info.json needs it")
    return info


def _camera(info: dict[str, Any], camera: str, where: Path) -> str:
    videos = [name for name, feature in info["features"].items() if feature.get("dtype") == "video"]
    if camera and camera not in videos:
        raise DatasetError(f"{where}: no video feature {camera!r}; the dataset's video features: {videos}")
    if not videos:
        raise DatasetError(f"{where}: the dataset has no video feature (dtype 'video'); jepaworld learns from frames")
    return camera or videos[0]


def _episodes(root: Path, info: dict[str, Any], camera: str) -> list[_Episode]:
    import pyarrow.parquet as pq

    if info["codebase_version"] != "v3.0":
        chunk_size = int(info.get("chunks_size", 1000))
        episodes = []
        for index in range(int(info.get("total_episodes", 0))):
            names = {"episode_chunk": index // chunk_size, "episode_index": index, "video_key": camera}
            table = root / info["data_path"].format(**names)
            video = root / info["video_path"].format(**names)
            episodes.append(_Episode(index, table, video, 0.0))
        return episodes
    meta_files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not meta_files:
        raise DatasetError(f"{root}: v3.0 dataset without meta/episodes/chunk-*/file-*.parquet")
    episodes = []
    for meta in meta_files:
        for row in pq.read_table(meta).to_pylist():
            try:
                table = root / info["data_path"].format(
                    chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
                )
                video = root / info["video_path"].format(
                    video_key=camera,
                    chunk_index=row[f"videos/{camera}/chunk_index"],
                    file_index=row[f"videos/{camera}/file_index"],
                )
                start = float(row[f"videos/{camera}/from_timestamp"])
            except KeyError as err:
                raise DatasetError(f"{meta}: episode metadata lacks column {err}") from err
            episodes.append(_Episode(int(row["episode_index"]), table, video, start))
    return episodes


def _table(episode: _Episode, columns: list[str], cache: dict[Path, Any]) -> dict[str, np.ndarray]:
    """The rows of one episode: a v2 table is the episode; a v3 table is filtered by ``episode_index``."""
    import pyarrow.parquet as pq

    if not episode.table.is_file():
        raise DatasetError(f"episode {episode.index}: table {episode.table} is missing")
    if episode.table not in cache:  # v3 episodes share files: keep only the last one read
        cache.clear()
        table = pq.read_table(episode.table)
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise DatasetError(f"{episode.table}: no column(s) {missing}; it has {table.column_names}")
        cache[episode.table] = {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}
    rows = cache[episode.table]
    keep = rows["episode_index"] == episode.index
    if not keep.any():
        raise DatasetError(f"{episode.table}: no rows for episode {episode.index}")
    return {c: (np.stack(v[keep]) if v.dtype == object else v[keep]) for c, v in rows.items()}


def import_lerobot(config: LeRobotImportConfig) -> dict[str, Any]:
    """Import ``config.path`` into ``config.out`` -> a summary; nothing is written unless every episode imports."""
    root = Path(config.path)
    if not root.is_dir():
        raise FileNotFoundError(f"LeRobot dataset folder {root} does not exist or is not a directory")
    info = _read_info(root)
    camera = _camera(info, config.camera, root)
    episodes = _episodes(root, info, camera)[: config.max_episodes or None]
    if not episodes:
        raise DatasetError(f"{root}: the dataset lists no episodes")
    features = info["features"]
    if config.action_key not in features:
        raise DatasetError(f"{root}: no action feature {config.action_key!r}; features: {sorted(features)}")
    state_key = config.state_key if config.state_key in features else ""
    columns = ["episode_index", "timestamp", config.action_key] + ([state_key] if state_key else [])
    fps, cache = float(info["fps"]), {}
    # Pass 1 (tables only): the action range, for the normalisation.
    actions = ActionRange()
    for episode in episodes:
        actions.add(_table(episode, columns, cache)[config.action_key])
    action_dim = actions.dim
    state_dim = int(np.prod(features[state_key]["shape"])) if state_key else 0
    writer = EpisodeWriter(
        config.out,
        frame_shape=(config.image_size, config.image_size, 3),
        action_dim=action_dim,
        state_dim=state_dim,
        env_id=f"lerobot:{root.resolve()}",
        action_low=-np.ones(action_dim),
        action_high=np.ones(action_dim),
        seed=0,
        extra={
            "source": "lerobot",
            "codebase_version": info["codebase_version"],
            "camera": camera,
            "fps": fps,
            "action_normalisation": actions.metadata(features[config.action_key].get("names")),
            "state_key": state_key or None,
            "state_names": _names(features.get(state_key, {}), state_dim),
        },
        overwrite=config.overwrite,
    )
    with writer:
        for episode in tqdm(episodes, desc="import", unit="ep", disable=not config.progress):
            rows = _table(episode, columns, cache)
            times = episode.video_start + rows["timestamp"].astype(np.float64)
            if not episode.video.is_file():
                raise DatasetError(f"episode {episode.index}: video {episode.video} is missing")
            try:
                frames = frames_at(episode.video, times, config.image_size, tolerance=0.5 / fps)
            except VideoError as err:
                raise DatasetError(f"episode {episode.index} ({camera}): {err}") from err
            state = rows[state_key].reshape(len(times), -1).astype(np.float32) if state_key else None
            writer.add_episode(frames, actions.normalise(rows[config.action_key][:-1]), state, episode.index)
        frames_written = writer.num_frames
    return {"path": str(writer.path), "episodes": len(episodes), "frames": frames_written, "camera": camera}


def _names(feature: dict[str, Any], dim: int) -> list[str]:
    names = feature.get("names")
    if isinstance(names, dict):  # {"motors": [...]} in some datasets
        names = next(iter(names.values()), None)
    if isinstance(names, list) and len(names) == dim and all(isinstance(n, str) for n in names):
        return names
    return [f"s{i}" for i in range(dim)]

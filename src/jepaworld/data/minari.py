"""Import a Minari dataset from local disk (``main_data.hdf5`` + ``metadata.json``, Minari 0.4 / 0.5 layout).

The file holds one group per episode, ``episode_{id}``, with ``observations`` (``L + 1`` rows: an array,
or a group of arrays for a Dict space), ``actions`` (``L`` rows), ``rewards``, ``terminations``,
``truncations`` and ``infos``. jepaworld learns from pixels, so one observation entry must be an image
``[L + 1, H, W, 3]`` uint8 (``--image-key``; found by itself when there is one). Episodes are read one at
a time; actions are scaled to ``[-1, 1]`` as for LeRobot imports, the scaling kept in the metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from tqdm import tqdm

from jepaworld.config import option
from jepaworld.data.episodes import EpisodeWriter
from jepaworld.data.importing import ActionRange, DatasetError, ImportConfig
from jepaworld.imaging import square_frame

#: Minari releases whose dataset layout this importer reads; a dataset declares the Minari versions it needs.
READABLE_MINARI = ("0.4.3", "0.5.3")


@dataclass(frozen=True)
class MinariImportConfig(ImportConfig):
    """Import a Minari dataset (its folder, or its main_data.hdf5) into one episode file."""

    image_key: str = option("", "observation entry holding the frames (default: the one [L+1, H, W, 3] uint8 entry)")
    state_key: str = option("", "observation entry stored as /state ('' for none)")

    path_help = "the Minari dataset folder (with data/main_data.hdf5) or its .hdf5 file"


def _locate(path: Path) -> tuple[Path, dict[str, Any]]:
    """-> (the HDF5 file, the dataset's metadata: metadata.json beside it, else the file's attributes)."""
    if not path.exists():
        raise FileNotFoundError(f"Minari dataset {path} does not exist")
    data = path / "data" / "main_data.hdf5" if path.is_dir() else path
    if not data.is_file():
        raise DatasetError(f"{path}: no data/main_data.hdf5; expected a Minari dataset folder or its .hdf5 file")
    for candidate in (data.parent.parent / "metadata.json", data.parent / "metadata.json"):
        if candidate.is_file():
            return data, json.loads(candidate.read_text())
    try:
        with h5py.File(data, "r") as f:
            return data, {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as err:
        raise DatasetError(f"{data}: cannot be opened as HDF5 ({err})") from err


def _check_version(metadata: dict[str, Any], where: Path) -> None:
    spec = str(metadata.get("minari_version", ""))
    try:
        readable = bool(spec) and any(SpecifierSet(spec).contains(v) for v in READABLE_MINARI)
    except InvalidSpecifier:
        readable = False
    if not readable:
        raise DatasetError(
            f"{where}: a dataset for Minari {spec or '(no minari_version)'}; jepaworld reads the layout of Minari "
            f"{' and '.join(READABLE_MINARI)} (minari_version such as '>=0.4' or '~=0.5')"
        )


def _entries(observations: h5py.Group | h5py.Dataset, prefix: str = "") -> dict[str, h5py.Dataset]:
    """Observation arrays by path (``pixels``, ``state/joints``...); a plain array is the entry ``''``."""
    if isinstance(observations, h5py.Dataset):
        return {prefix: observations}
    out = {}
    for name, item in observations.items():
        out.update(_entries(item, f"{prefix}/{name}" if prefix else name))
    return out


def _image_key(entries: dict[str, h5py.Dataset], key: str, where: str) -> str:
    shapes = {k: f"{v.dtype} {list(v.shape)}" for k, v in entries.items()}
    if key:
        if key not in entries:
            raise DatasetError(f"{where}: no observation entry {key!r} (--image-key); entries: {shapes}")
        return key
    images = [k for k, v in entries.items() if v.dtype == np.uint8 and v.ndim == 4 and v.shape[-1] == 3]
    if len(images) != 1:
        raise DatasetError(
            f"{where}: expected one image observation [L+1, H, W, 3] uint8 to learn from (or --image-key), "
            f"found {len(images)}; observation entries: {shapes}"
        )
    return images[0]


def _episode_names(f: h5py.File, where: Path, limit: int) -> list[str]:
    names = sorted((n for n in f if n.startswith("episode_")), key=lambda n: int(n.split("_")[1]))
    if not names:
        raise DatasetError(f"{where}: no episode_* groups; this is not a Minari data file")
    return names[: limit or None]


def import_minari(config: MinariImportConfig) -> dict[str, Any]:
    """Import ``config.path`` into ``config.out`` -> a summary; nothing is written unless every episode imports."""
    data, metadata = _locate(Path(config.path))
    _check_version(metadata, data)
    with h5py.File(data, "r") as f:
        names = _episode_names(f, data, config.max_episodes)
        entries = _entries(f[names[0]]["observations"])
        image_key = _image_key(entries, config.image_key, f"{data}/{names[0]}")
        if config.state_key and config.state_key not in entries:
            raise DatasetError(f"{data}: no observation entry {config.state_key!r} (--state-key); has {list(entries)}")
        actions = ActionRange()
        for name in names:  # pass 1: actions only, for the normalisation
            actions.add(f[name]["actions"][:])
        state_dim = int(np.prod(entries[config.state_key].shape[1:])) if config.state_key else 0
        writer = EpisodeWriter(
            config.out,
            frame_shape=(config.image_size, config.image_size, 3),
            action_dim=actions.dim,
            state_dim=state_dim,
            env_id=f"minari:{metadata.get('dataset_id', data.resolve())}",
            action_low=-np.ones(actions.dim),
            action_high=np.ones(actions.dim),
            seed=0,
            extra={
                "source": "minari",
                "minari_version": metadata.get("minari_version"),
                "image_key": image_key,
                "action_normalisation": actions.metadata(),
                "state_key": config.state_key or None,
                "state_names": [f"{config.state_key}[{i}]" for i in range(state_dim)],
            },
            overwrite=config.overwrite,
        )
        with writer:
            for name in tqdm(names, desc="import", unit="ep", disable=not config.progress):
                episode = f[name]
                episode_entries = _entries(episode["observations"])
                act = episode["actions"][:]
                images = episode_entries[image_key]
                where = f"{data}/{name}"
                if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
                    raise DatasetError(
                        f"{where}: {image_key!r} is {images.dtype} {list(images.shape)}, expected [L+1, H, W, 3] uint8"
                    )
                if len(images) != len(act) + 1:
                    raise DatasetError(
                        f"{where}: {len(images)} observations for {len(act)} actions; expected one more observation"
                    )
                frames = np.stack([square_frame(images[i], config.image_size) for i in range(len(images))])
                state = None
                if state_dim:
                    state = episode_entries[config.state_key][:].reshape(len(images), -1).astype(np.float32)
                writer.add_episode(frames, actions.normalise(act), state, _seed(episode.attrs.get("seed"), name))
            frames_written = writer.num_frames
    return {"path": str(writer.path), "episodes": len(names), "frames": frames_written, "image_key": image_key}


def _seed(value: Any, name: str) -> int:
    """The episode's reset seed where Minari recorded one, else its index."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return int(name.split("_")[1])

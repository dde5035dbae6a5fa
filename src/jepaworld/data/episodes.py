"""The episode file: one self-describing HDF5 file per dataset.

Layout (``N`` steps over ``E`` episodes; each episode's rows are contiguous)::

    /frames        [N, H, W, 3] uint8, chunked by a few frames, LZF-compressed
    /actions       [N, A] float32   action taken after frame i; an episode's last row is zeros (unused);
                                    A = 0 for action-free episodes (videos)
    /state         [N, S] float32   true simulator state where the env has one (optional)
    /episode_ends  [E] int64        exclusive end row of each episode (its boundaries)
    /episode_seeds [E] int64        the reset seed of each episode
    attrs: format, format_version, env_id, action_low, action_high, seed, jepaworld_version, created

A writer works in ``NAME.partial`` and renames it to ``NAME`` only once every episode is in and
the file is closed, so an interrupted collection never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT = "jepaworld-episodes"
FORMAT_VERSION = 1
_REQUIRED = ("frames", "actions", "episode_ends")


class EpisodeFileError(ValueError):
    """A file that is not a valid jepaworld episode file; the message names the file and the problem."""


class EpisodeWriter:
    """Appends episodes to a new episode file; ``close()`` (or the context manager) publishes it."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        frame_shape: tuple[int, int, int],
        action_dim: int,
        state_dim: int,
        env_id: str,
        action_low,
        action_high,
        seed: int,
        extra: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        from jepaworld import __version__

        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} already exists; pass overwrite=True (--overwrite) to replace it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._file = h5py.File(self.partial, "w")
        f = self._file
        chunk = 16
        f.create_dataset(
            "frames",
            (0, *frame_shape),
            np.uint8,
            maxshape=(None, *frame_shape),
            chunks=(chunk, *frame_shape),
            compression="lzf",
        )
        # Action-free episodes (videos) keep an [N, 0] column; HDF5 chunks cannot be 0 wide, so h5py picks them.
        action_chunks = (1024, action_dim) if action_dim else True
        f.create_dataset("actions", (0, action_dim), np.float32, maxshape=(None, action_dim), chunks=action_chunks)
        if state_dim:
            f.create_dataset("state", (0, state_dim), np.float32, maxshape=(None, state_dim), chunks=(1024, state_dim))
        f.create_dataset("episode_ends", (0,), np.int64, maxshape=(None,), chunks=(1024,))
        f.create_dataset("episode_seeds", (0,), np.int64, maxshape=(None,), chunks=(1024,))
        f.attrs.update(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "env_id": env_id,
                "action_low": np.asarray(action_low, np.float32),
                "action_high": np.asarray(action_high, np.float32),
                "seed": seed,
                "jepaworld_version": __version__,
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "extra": json.dumps(extra or {}),
            }
        )
        self._closed = False

    def add_episode(self, frames: np.ndarray, actions: np.ndarray, state: np.ndarray | None, seed: int) -> None:
        """frames ``[L, H, W, 3]`` uint8, actions ``[L - 1, A]`` (the actions between frames), state ``[L, S]``."""
        f = self._file
        length = len(frames)
        if frames.dtype != np.uint8 or frames.shape[1:] != f["frames"].shape[1:]:
            raise ValueError(
                f"frames: expected [L, {', '.join(map(str, f['frames'].shape[1:]))}] uint8, "
                f"got {list(frames.shape)} {frames.dtype}"
            )
        if len(actions) != length - 1:
            raise ValueError(f"an episode of {length} frames needs {length - 1} actions, got {len(actions)}")
        actions = np.concatenate([actions, np.zeros((1, actions.shape[1]), np.float32)]).astype(np.float32)
        start = f["frames"].shape[0]
        for name, rows in (("frames", frames), ("actions", actions), ("state", state)):
            if name in f:
                f[name].resize(start + length, axis=0)
                f[name][start:] = rows
        for name, value in (("episode_ends", start + length), ("episode_seeds", seed)):
            f[name].resize(f[name].shape[0] + 1, axis=0)
            f[name][-1] = value

    @property
    def num_episodes(self) -> int:
        return int(self._file["episode_ends"].shape[0])

    @property
    def num_frames(self) -> int:
        return int(self._file["frames"].shape[0])

    def truncate(self, num_episodes: int) -> None:
        """Drop every episode after the first ``num_episodes`` (undo a source that failed half-way)."""
        f = self._file
        if not 0 <= num_episodes <= self.num_episodes:
            raise ValueError(f"truncate: expected 0 <= num_episodes <= {self.num_episodes}, got {num_episodes}")
        rows = int(f["episode_ends"][num_episodes - 1]) if num_episodes else 0
        for name in ("frames", "actions", "state"):
            if name in f:
                f[name].resize(rows, axis=0)
        for name in ("episode_ends", "episode_seeds"):
            f[name].resize(num_episodes, axis=0)

    def set_extra(self, extra: dict[str, Any]) -> None:
        """Replace the free-form ``extra`` metadata (JSON) before the file is published."""
        self._file.attrs["extra"] = json.dumps(extra)

    def close(self) -> Path:
        """Close the file and publish it under its final name."""
        if not self._closed:
            self._file.close()
            os.replace(self.partial, self.path)
            self._closed = True
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file (nothing is published)."""
        if not self._closed:
            self._file.close()
            self.partial.unlink(missing_ok=True)
            self._closed = True

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class EpisodeFile:
    """Read access to an episode file, validated on open; rows are read lazily.

    Raises ``EpisodeFileError`` naming the file and what is wrong with it.
    """

    def __init__(self, path: str | os.PathLike, cache_bytes: int = 64 * 2**20) -> None:
        """cache_bytes bounds the decompressed-chunk cache for frames (HDF5's chunk cache)."""
        self.path = Path(path)
        if not self.path.exists():
            partial = self.path.with_name(self.path.name + ".partial")
            hint = f" (a {partial.name} exists: that collection did not finish)" if partial.exists() else ""
            raise FileNotFoundError(f"episode file {self.path} does not exist{hint}")
        if not h5py.is_hdf5(self.path):
            raise EpisodeFileError(
                f"{self.path}: not an HDF5 file; expected a jepaworld episode file written by `jepaworld collect`"
            )
        try:
            self._file = h5py.File(self.path, "r", rdcc_nbytes=cache_bytes, rdcc_nslots=100_003)
        except OSError as err:
            raise EpisodeFileError(
                f"{self.path}: cannot be opened as HDF5 ({err}); the file is probably truncated or damaged"
            ) from err
        try:
            self._validate()
        except EpisodeFileError:
            self._file.close()
            raise

    def _validate(self) -> None:
        f, name = self._file, self.path
        if f.attrs.get("format") != FORMAT:
            raise EpisodeFileError(
                f"{name}: attribute format={f.attrs.get('format')!r}, expected {FORMAT!r}; "
                f"this HDF5 file is not a jepaworld episode file"
            )
        version = int(f.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise EpisodeFileError(f"{name}: format_version {version}, this jepaworld reads {FORMAT_VERSION}")
        for key in _REQUIRED:
            if key not in f:
                raise EpisodeFileError(f"{name}: missing dataset /{key}; expected {list(_REQUIRED)}")
        try:
            n = f["frames"].shape[0]
            ends = f["episode_ends"][:]
            for key in ("actions", "state"):
                if key in f and f[key].shape[0] != n:
                    raise EpisodeFileError(f"{name}: /{key} has {f[key].shape[0]} rows but /frames has {n}")
            if f["frames"].dtype != np.uint8 or f["frames"].ndim != 4 or f["frames"].shape[-1] != 3:
                raise EpisodeFileError(
                    f"{name}: /frames must be [N, H, W, 3] uint8, got {list(f['frames'].shape)} {f['frames'].dtype}"
                )
            if len(ends) == 0 or np.any(np.diff(ends) <= 0) or ends[0] <= 0 or ends[-1] != n:
                raise EpisodeFileError(
                    f"{name}: /episode_ends must increase and end at the frame count {n}, "
                    f"got {len(ends)} ends ending at {ends[-1] if len(ends) else None}"
                )
            # Touch the last chunk: a truncated file fails here rather than mid-training.
            f["frames"][n - 1]
        except (OSError, KeyError) as err:
            raise EpisodeFileError(f"{name}: unreadable data ({err}); the file is probably truncated") from err
        self.episode_ends = ends
        self.episode_starts = np.concatenate([[0], ends[:-1]])
        # Dataset handles are opened once: HDF5's chunk cache lives with the handle.
        self._columns = {key: f[key] for key in ("frames", "actions", "state") if key in f}

    # --- metadata ---------------------------------------------------------------------------------
    @property
    def env_id(self) -> str:
        return str(self._file.attrs["env_id"])

    @property
    def action_low(self) -> np.ndarray:
        return np.asarray(self._file.attrs["action_low"], np.float32)

    @property
    def action_high(self) -> np.ndarray:
        return np.asarray(self._file.attrs["action_high"], np.float32)

    @property
    def metadata(self) -> dict[str, Any]:
        attrs = dict(self._file.attrs)
        attrs["extra"] = json.loads(attrs.get("extra", "{}"))
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v.item() if isinstance(v, np.generic) else v)
            for k, v in attrs.items()
        }

    @property
    def num_episodes(self) -> int:
        return len(self.episode_ends)

    @property
    def num_frames(self) -> int:
        return int(self.episode_ends[-1])

    @property
    def episode_seeds(self) -> np.ndarray:
        """The seed each episode was reset with (``[num_episodes]`` int64)."""
        return self._file["episode_seeds"][:]

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self._file["frames"].shape[1:])

    @property
    def action_dim(self) -> int:
        return int(self._file["actions"].shape[1])

    @property
    def has_state(self) -> bool:
        return "state" in self._file

    @property
    def state_dim(self) -> int:
        return int(self._file["state"].shape[1]) if self.has_state else 0

    # --- rows -------------------------------------------------------------------------------------
    def rows(self, key: str, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of ``frames``, ``actions`` or ``state``."""
        return self._columns[key][start:stop]

    def episode(self, index: int) -> dict[str, np.ndarray]:
        """One whole episode: frames ``[L, H, W, 3]``, actions ``[L - 1, A]``, state ``[L, S]`` if any."""
        start, stop = int(self.episode_starts[index]), int(self.episode_ends[index])
        out = {"frames": self.rows("frames", start, stop), "actions": self.rows("actions", start, stop - 1)}
        if self.has_state:
            out["state"] = self.rows("state", start, stop)
        return out

    def episodes(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(self.num_episodes):
            yield self.episode(i)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()

    def __enter__(self) -> EpisodeFile:
        return self

    def __exit__(self, *_) -> None:
        self.close()

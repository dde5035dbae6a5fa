"""Random windows of consecutive frames and the actions between them, from memory or read from disk on demand."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
from einops import rearrange

from jepaworld.data.episodes import EpisodeFile


class WindowDataset(torch.utils.data.Dataset):
    """Windows of ``num_frames`` frames taken every ``frameskip`` steps inside one episode.

    Item ``i`` is a dict:
      ``frames`` ``[T, 3, H, W]`` uint8, ``actions`` ``[T - 1, frameskip * A]`` float32 (the ``frameskip``
      env actions between consecutive frames, concatenated), and ``state`` ``[T, S]`` when the file has it.
    Where the chosen episodes' frames fit in ``cache_mb`` decompressed, they are read once and held in
    memory, and a batch is one gather; otherwise they are read per window through a decompressed-chunk
    cache of that size. The small per-step columns (actions, state) are always held whole. Both ways
    give the same batches. After ``encode_frames`` batches hold the frames' latents instead.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        num_frames: int,
        frameskip: int = 1,
        episodes: np.ndarray | None = None,
        cache_mb: int = 1024,
    ) -> None:
        if num_frames < 2:
            raise ValueError(f"a window needs at least 2 frames (history + next), got num_frames={num_frames}")
        if frameskip < 1:
            raise ValueError(f"frameskip must be >= 1, got {frameskip}")
        self.file = EpisodeFile(path)
        self._actions = self.file.rows("actions", 0, self.file.num_frames)
        self._state = self.file.rows("state", 0, self.file.num_frames) if self.file.has_state else None
        self.num_frames, self.frameskip = num_frames, frameskip
        self.span = (num_frames - 1) * frameskip + 1
        chosen = np.arange(self.file.num_episodes) if episodes is None else np.asarray(episodes)
        first, ends = self.file.episode_starts[chosen], self.file.episode_ends[chosen]
        starts = [np.arange(a, b - self.span + 1) for a, b in zip(first, ends, strict=True)]
        self.starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        if len(self.starts) == 0:
            raise ValueError(
                f"{self.file.path}: no episode is long enough for a window of {num_frames} frames "
                f"at frameskip {frameskip} ({self.span} steps)"
            )
        lengths = ends - first
        self.frames_mb = int(lengths.sum()) * int(np.prod(self.file.frame_shape)) / 2**20  # decompressed
        # Held in memory, the chosen episodes' rows lie back to back; window i starts at row _memory_starts[i].
        placed = np.cumsum(lengths) - lengths
        self._episodes = list(zip(first, ends, placed, strict=True))
        self._memory_starts = self.starts - np.repeat(first - placed, [len(x) for x in starts])
        self._latents: torch.Tensor | None = None
        if self.frames_mb <= cache_mb:
            self._frames = np.empty((int(lengths.sum()), *self.file.frame_shape), np.uint8)
            for a, b, at in self._episodes:
                self._frames[at : at + b - a] = self.file.rows("frames", int(a), int(b))
        else:
            self._frames = None
            self.file.close()
            self.file = EpisodeFile(path, cache_bytes=cache_mb * 2**20)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self.starts[index])
        k, t = self.frameskip, self.num_frames
        if self._frames is None:
            frames = self.file.rows("frames", start, start + self.span)[::k]
        else:
            at = int(self._memory_starts[index])
            frames = self._frames[at : at + self.span : k]
        actions = self._actions[start : start + (t - 1) * k]
        item = {
            "frames": torch.from_numpy(rearrange(frames, "t h w c -> t c h w").copy()),
            "actions": torch.from_numpy(rearrange(actions, "(t k) a -> t (k a)", k=k).copy()),
        }
        if self._state is not None:
            item["state"] = torch.from_numpy(self._state[start : start + self.span : k].copy())
        return item

    @property
    def in_memory(self) -> bool:
        """Whether the frames are held in memory (they fit in ``cache_mb``)."""
        return self._frames is not None

    @torch.no_grad()
    def encode_frames(self, encode: Callable[[np.ndarray], torch.Tensor], chunk: int = 1024) -> int:
        """Encode every frame once with ``encode`` (uint8 ``[N, H, W, C]`` -> ``[N, D]``, as
        ``WorldModel.encode_frames``) and hold the latents in place of the frames: batches then carry
        ``latents [B, T, D]`` instead of ``frames``. For training a predictor on a fixed encoder; read
        episode by episode, so frames need not fit.
        Returns how many frames were encoded."""
        parts = []
        for first, end, placed in self._episodes:
            for lo in range(0, int(end - first), chunk):
                hi = min(lo + chunk, int(end - first))
                if self._frames is None:
                    frames = self.file.rows("frames", int(first) + lo, int(first) + hi)
                else:
                    frames = self._frames[placed + lo : placed + hi]
                parts.append(encode(frames).cpu())
        self._latents, self._frames = torch.cat(parts).float(), None
        return len(self._latents)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A random batch: each value gains a leading ``[B]`` axis. Reproducible from ``rng``."""
        indices = np.sort(rng.integers(0, len(self), size=batch_size))
        if self._frames is None and self._latents is None:
            items = [self[int(i)] for i in indices]
            return {key: torch.stack([it[key] for it in items]) for key in items[0]}
        k, t = self.frameskip, self.num_frames
        offsets, starts = np.arange(0, self.span, k), self.starts[indices][:, None]
        rows = self._memory_starts[indices][:, None] + offsets
        if self._latents is not None:
            batch = {"latents": self._latents[torch.from_numpy(rows)]}
        else:
            frames = rearrange(self._frames[rows], "b t h w c -> b t c h w")
            batch = {"frames": torch.from_numpy(np.ascontiguousarray(frames))}
        batch["actions"] = torch.from_numpy(
            rearrange(self._actions[starts + np.arange((t - 1) * k)], "b (t k) a -> b t (k a)", k=k)
        )
        if self._state is not None:
            batch["state"] = torch.from_numpy(self._state[starts + offsets])
        return batch

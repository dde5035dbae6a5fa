"""The pixel-space reference for the physics suite: predict the next frame's pixels from the last ``history``.

Not a jepaworld model (jepaworld never predicts pixels); it is the baseline the latent surprise is
compared with, of similar size to the default world model, trained on the same possible videos.
Its surprise is the mean squared pixel error of each next-frame prediction.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from tqdm import tqdm

from jepaworld.data import WindowDataset


class PixelPredictor(nn.Module):
    """A small U-Net: frames ``[B, h, 3, H, W]`` uint8 -> next frame ``[B, 3, H, W]`` in [0, 1] (residual)."""

    def __init__(self, history: int, width: int = 32) -> None:
        super().__init__()
        self.history = history
        c = [3 * history, width, 2 * width, 4 * width]
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c[i], c[i + 1], 3, stride=2, padding=1), nn.GroupNorm(8, c[i + 1]), nn.GELU())
            for i in range(3)
        )
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(c[i + 1] * (1 if i == 2 else 2), c[i] if i else width, 4, 2, 1), nn.GELU())
            for i in reversed(range(3))
        )
        self.head = nn.Conv2d(width + 3 * history, 3, 3, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x0 = rearrange(frames.float() / 255.0, "b t c h w -> b (t c) h w")
        skips, x = [], x0
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for layer in self.up:
            x = layer(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        delta = self.head(torch.cat([x, x0], dim=1))
        return (x0[:, -3:] + delta).clamp(0, 1)

    @torch.inference_mode()
    def surprise(self, frames: np.ndarray) -> np.ndarray:
        """frames ``[T, H, W, 3]`` uint8 -> ``[T - 1]`` pixel MSE of predicting frame ``t + 1`` (first frame padded)."""
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        padded = torch.cat([video[:1].expand(self.history - 1, -1, -1, -1), video])
        windows = padded.unfold(0, self.history, 1)[: len(video) - 1]  # [T-1, 3, H, W, h]
        windows = rearrange(windows, "n c h w t -> n t c h w")
        pred = self(windows)
        target = video[1:].float() / 255.0
        return (pred - target).pow(2).mean(dim=(1, 2, 3)).numpy()


def train_pixel_baseline(
    data: str, history: int, steps: int, batch_size: int = 64, seed: int = 0, progress: bool = True
) -> tuple[PixelPredictor, float]:
    """Fit on windows of the episode file ``data`` -> (model in eval mode, training seconds)."""
    torch.manual_seed(seed)
    model = PixelPredictor(history)
    windows = WindowDataset(data, num_frames=history + 1, frameskip=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for _ in tqdm(range(steps), desc="pixel baseline", unit="step", disable=not progress):
        frames = windows.sample(batch_size, rng)["frames"]  # [B, h + 1, 3, H, W]
        loss = F.mse_loss(model(frames[:, :-1]), frames[:, -1].float() / 255.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval(), time.perf_counter() - started

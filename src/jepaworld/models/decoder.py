"""A frame decoder for looking at imagined latents, never for learning the world model.

It is trained afterwards on frozen latents (``jepaworld train-decoder``); the world model's loss never
sees pixels, and nothing the decoder learns flows back into the encoder or predictor.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from jepaworld.types import check_shape


class FrameDecoder(nn.Module):
    """Latents ``[N, D]`` -> frames ``[N, 3, S, S]`` in ``[0, 1]``: a linear map to a ``S/16`` grid,
    then four (upsample x2, 3x3 conv) stages halving the channels ``8w, 4w, 2w, w``."""

    def __init__(self, latent_dim: int, image_size: int = 64, width: int = 32) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"FrameDecoder needs an image size divisible by 16, got {image_size}")
        self.latent_dim, self.image_size, self.width = latent_dim, image_size, width
        self.grid = image_size // 16
        self.fc = nn.Linear(latent_dim, 8 * width * self.grid**2)
        stages, c_in = [], 8 * width
        for c_out in (4 * width, 2 * width, width, width):
            stages += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.GroupNorm(min(8, c_out), c_out),
                nn.GELU(),
            ]
            c_in = c_out
        self.net = nn.Sequential(*stages, nn.Conv2d(c_in, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_shape("FrameDecoder latents", z, ["N", self.latent_dim])
        x = rearrange(self.fc(z), "n (c h w) -> n c h w", h=self.grid, w=self.grid)
        return self.net(x)

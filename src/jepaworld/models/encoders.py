"""Frame encoders: ``obs [B, T, C, H, W] uint8|float -> features [B, T, F]``. Registered by name."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from jepaworld.registry import Registry
from jepaworld.types import check_shape

ENCODERS: Registry[nn.Module] = Registry("encoder")


def _to_float(obs: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` or float ``[0, 1]`` frames -> float centred on zero."""
    if obs.dtype == torch.uint8:
        return obs.float().div_(255.0).sub_(0.5)
    return obs.float() - 0.5


def grid_layers(image_size: int, grid: int) -> int:
    """How many stride-2 layers bring ``image_size`` pixels down to ``grid`` cells a side; a clear error
    unless that is a whole number >= 1."""
    ratio = image_size // grid
    if image_size % grid or ratio < 2 or ratio & (ratio - 1):
        raise ValueError(f"image_size / latent_grid must be a power of two >= 2, got {image_size} / {grid}")
    return ratio.bit_length() - 1


@ENCODERS.register("cnn")
class CNNEncoder(nn.Module):
    """Stride-2 3x3 convolutions (``width, 2w, 4w, ...`` channels), flattened: cheap on a CPU.

    ``grid = 0``: four of them, down to ``image_size / 16`` cells a side. ``grid = G``: as many as bring
    the frame down to ``G x G`` cells, kept apart in the features (``F = channels x G x G``, channel-major)
    so that a ``GridProjector`` maps each cell to its own latent.
    """

    def __init__(self, image_size: int = 64, channels: int = 3, width: int = 16, grid: int = 0) -> None:
        super().__init__()
        if grid:
            n_layers = grid_layers(image_size, grid)
        elif image_size % 16:
            raise ValueError(f"CNNEncoder needs an image size divisible by 16, got {image_size}")
        else:
            n_layers = 4
        layers, c_in = [], channels
        for i in range(n_layers):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.GELU()]
            c_in = c_out
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.image_size, self.channels = image_size, channels
        self.grid_channels = c_in  # feature channels per cell
        self.out_dim = c_in * (image_size // 2**n_layers) ** 2

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_shape("CNNEncoder obs", obs, ["B", "T", self.channels, self.image_size, self.image_size])
        b = obs.shape[0]
        x = _to_float(rearrange(obs, "b t c h w -> (b t) c h w"))
        return rearrange(self.net(x.contiguous(memory_format=torch.channels_last)), "(b t) f -> b t f", b=b)


@ENCODERS.register("vit")
class ViTEncoder(nn.Module):
    """A tiny ViT: ``patch``-pixel patches, ``depth`` pre-norm blocks, the CLS token as the feature."""

    def __init__(
        self, image_size: int = 64, channels: int = 3, patch: int = 8, width: int = 128, depth: int = 4, heads: int = 4
    ) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"ViTEncoder needs image_size % patch == 0, got {image_size} % {patch}")
        self.image_size, self.channels, self.out_dim = image_size, channels, width
        self.embed = nn.Conv2d(channels, width, patch, stride=patch)
        n = (image_size // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, n + 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        check_shape("ViTEncoder obs", obs, ["B", "T", self.channels, self.image_size, self.image_size])
        b = obs.shape[0]
        x = self.embed(_to_float(rearrange(obs, "b t c h w -> (b t) c h w")))
        x = rearrange(x, "n d gh gw -> n (gh gw) d")  # [B*T, N_patches, W]
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos
        x = self.norm(self.blocks(x))[:, 0]  # CLS token [B*T, W]
        return rearrange(x, "(b t) d -> b t d", b=b)


class Projector(nn.Module):
    """Features ``[B, T, F]`` -> latents ``[B, T, D]`` through an MLP with batch norm (as LeWM)."""

    def __init__(self, in_dim: int, latent_dim: int, hidden: int = 512) -> None:
        super().__init__()
        self.out_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.GELU(), nn.Linear(hidden, latent_dim)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b = features.shape[0]
        return rearrange(self.net(rearrange(features, "b t f -> (b t) f")), "(b t) d -> b t d", b=b)


class GridProjector(nn.Module):
    """Grid features ``[B, T, F x G x G]`` -> patch latents ``[B, T, D]``, ``D = C x G x G`` (channel-major):
    the same MLP with batch norm maps each cell's ``F`` features to its ``C = D / G^2`` latent channels, so
    a latent channel at a cell says what is at that place in the frame."""

    def __init__(self, in_channels: int, grid: int, latent_dim: int, hidden: int = 128) -> None:
        super().__init__()
        if latent_dim % (grid * grid):
            raise ValueError(f"GridProjector: latent_dim must be a multiple of grid^2 = {grid**2}, got {latent_dim}")
        self.out_dim, self.grid, self.in_channels = latent_dim, grid, in_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1),
            nn.BatchNorm2d(hidden),
            nn.GELU(),
            nn.Conv2d(hidden, latent_dim // (grid * grid), 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b, g = features.shape[0], self.grid
        x = rearrange(features, "b t (c h w) -> (b t) c h w", c=self.in_channels, h=g, w=g)
        return rearrange(self.net(x), "(b t) c h w -> b t (c h w)", b=b)

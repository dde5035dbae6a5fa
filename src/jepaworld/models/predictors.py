"""Action-conditioned predictors: ``(z [B, T, D], a [B, T, A]) -> z_next [B, T, D]``, causal in T."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from jepaworld.registry import Registry

PREDICTORS: Registry[nn.Module] = Registry("predictor")
#: The predictors over patch latents' grid (``--latent-grid``): they take ``grid=``.
GRID_PREDICTORS = ("conv", "cells")


def action_embedding(action_dim: int, width: int) -> nn.Module | None:
    """Actions ``[..., action_dim]`` -> ``[..., width]``; None for action-free models (video pretraining)."""
    if not action_dim:
        return None
    return nn.Sequential(nn.Linear(action_dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())


def cell_channels(owner: str, latent_dim: int, grid: int) -> int:
    """The channels of each of a patch latent's ``grid`` x ``grid`` cells; a clear error where they do not divide."""
    if latent_dim % (grid * grid):
        raise ValueError(f"{owner}: latent_dim must be a multiple of grid^2 = {grid**2}, got {latent_dim}")
    return latent_dim // (grid * grid)


class AdaLNBlock(nn.Module):
    """A pre-norm causal transformer block whose norms are modulated by the action (adaLN-zero, as DiT).

    The modulation is zero at init, so each block starts as the identity.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None = None, queries: int = 0
    ) -> torch.Tensor:
        """x ``[B, T, W]``, cond ``[B, T, W]`` (the action embedding) -> ``[B, T, W]``.

        ``mask``: which tokens each may attend to, ``[T, T]`` bool (default: causal). ``queries`` > 0: only
        the last ``queries`` tokens' outputs, ``[B, queries, W]`` (what the last block of a rollout needs).
        """
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        if x.shape[1] == 1:  # attention over a single token returns its value: skip queries and keys
            width = x.shape[-1]
            attn = F.linear(h, self.qkv.weight[2 * width :], self.qkv.bias[2 * width :])
        else:
            q, k, v = rearrange(self.qkv(h), "b t (three nh hs) -> three b nh t hs", three=3, nh=self.heads)
            if queries:  # the last tokens' rows of the mask (causal by default)
                t = x.shape[1]
                mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril() if mask is None else mask
                q, x, mask = q[:, :, -queries:], x[:, -queries:], mask[-queries:]
                gate1, shift2, scale2, gate2 = (c[:, -queries:] for c in (gate1, shift2, scale2, gate2))
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
            attn = rearrange(attn, "b nh t hs -> b t (nh hs)")
        x = x + gate1 * self.proj(attn)
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


@PREDICTORS.register("transformer")
class TransformerPredictor(nn.Module):
    """A small causal transformer over the latent history, conditioned on actions by adaLN-zero.

    Predicts a residual: ``z_next[t] = z[t] + head(h[t])``.
    """

    blocks_start_as_identity = True  # so a deeper one can start from a trained one (train --init-from)

    def __init__(
        self, latent_dim: int, action_dim: int, max_history: int, width: int = 128, depth: int = 2, heads: int = 4
    ) -> None:
        super().__init__()
        self.max_history = max_history
        self.inp = nn.Linear(latent_dim, width)
        self.pos = nn.Parameter(torch.randn(1, max_history, width) * 0.02)
        # Action-free models (video pretraining) have no action embedding: every block's modulation is
        # then its learned bias alone.
        self.action = action_embedding(action_dim, width)
        self.width = width
        self.blocks = nn.ModuleList(AdaLNBlock(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, latent_dim)

    def forward(self, z: torch.Tensor, actions: torch.Tensor, last: bool = False) -> torch.Tensor:
        """``last``: only the last step's prediction, ``[B, 1, D]`` (what a rollout reads)."""
        t = z.shape[1]
        if t > self.max_history:
            raise ValueError(f"predictor history: at most {self.max_history} steps, got {t}")
        x = self.inp(z) + self.pos[:, :t]  # [B, T, W]
        cond = self.action(actions) if self.action is not None else x.new_zeros(x.shape)  # [B, T, W]
        for block in self.blocks:
            x = block(x, cond)
        if last:
            z, x = z[:, -1:], x[:, -1:]
        return z + self.head(self.norm(x))


@PREDICTORS.register("mlp")
class MLPPredictor(nn.Module):
    """A Markov predictor: ``z_next[t] = z[t] + MLP([z[t], a[t]])``; ignores older history."""

    def __init__(
        self, latent_dim: int, action_dim: int, max_history: int, width: int = 256, depth: int = 2, heads: int = 0
    ) -> None:
        super().__init__()
        self.max_history = max_history
        layers, d = [], latent_dim + action_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.LayerNorm(width), nn.GELU()]
            d = width
        self.net = nn.Sequential(*layers, nn.Linear(d, latent_dim))

    def forward(self, z: torch.Tensor, actions: torch.Tensor, last: bool = False) -> torch.Tensor:
        if last:
            z, actions = z[:, -1:], actions[:, -1:]
        return z + self.net(torch.cat([z, actions], dim=-1))


def _groups(width: int) -> int:
    """Group-norm groups for ``width`` channels: 8 where they divide it, else one group."""
    return 8 if width % 8 == 0 else 1


class FiLMConvBlock(nn.Module):
    """A residual block of two 3x3 convolutions whose group norms are shifted and scaled by the action (FiLM).

    The modulation and the second convolution are zero at init, so each block starts as the identity.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(width), width, affine=False)
        self.norm2 = nn.GroupNorm(_groups(width), width, affine=False)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.modulation = nn.Linear(width, 4 * width)
        for layer in (self.conv2, self.modulation):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x ``[N, W, G, G]``, cond ``[N, W]`` -> ``[N, W, G, G]``."""
        scale1, shift1, scale2, shift2 = self.modulation(cond)[:, :, None, None].chunk(4, dim=1)
        h = self.conv1(F.gelu(self.norm1(x) * (1 + scale1) + shift1))
        return x + self.conv2(F.gelu(self.norm2(h) * (1 + scale2) + shift2))


@PREDICTORS.register("conv")
class ConvPredictor(nn.Module):
    """For patch latents (``grid`` x ``grid`` cells of ``latent_dim / grid^2`` channels, channel-major):
    a small convolutional net over the last ``max_history`` latents' grids, stacked as channels (slots
    before the first frame are zeros, flagged by a mask channel each), conditioned on their actions by
    FiLM. Local like the physics it imagines: what happens at a cell depends on what is near it.

    Predicts a residual: ``z_next[t] = z[t] + head(h[t])``.
    """

    blocks_start_as_identity = True

    def __init__(
        self,
        latent_dim: int,
        action_dim: int,
        max_history: int,
        width: int = 64,
        depth: int = 2,
        heads: int = 0,
        grid: int = 8,
    ) -> None:
        super().__init__()
        self.max_history, self.grid = max_history, grid
        self.channels = cell_channels("ConvPredictor", latent_dim, grid)
        self.stem = nn.Conv2d(max_history * (self.channels + 1), width, 3, padding=1)
        self.action = action_embedding(max_history * action_dim, width)
        self.blocks = nn.ModuleList(FiLMConvBlock(width) for _ in range(depth))
        self.norm = nn.GroupNorm(_groups(width), width)
        self.head = nn.Conv2d(width, self.channels, 1)

    def forward(self, z: torch.Tensor, actions: torch.Tensor, last: bool = False) -> torch.Tensor:
        """``last``: only the last step's prediction, ``[B, 1, D]`` (what a rollout reads; a T-th of the work)."""
        b, t, _ = z.shape
        k, g = self.max_history, self.grid
        if t > k:
            raise ValueError(f"predictor history: at most {k} steps, got {t}")
        grids = rearrange(z, "b t (c h w) -> b t c h w", c=self.channels, h=g, w=g)
        present = torch.ones(b, t, 1, g, g, dtype=z.dtype, device=z.device)
        x = F.pad(torch.cat([grids, present], dim=2), (0, 0, 0, 0, 0, 0, k - 1, 0)).unfold(1, k, 1)
        a = F.pad(actions, (0, 0, k - 1, 0)).unfold(1, k, 1)  # the k slots up to each t: [B, T, ..., k]
        if last:
            z, x, a = z[:, -1:], x[:, -1:], a[:, -1:]
        h = self.stem(rearrange(x, "b t c h w k -> (b t) (k c) h w"))
        if self.action is not None:
            cond = self.action(rearrange(a, "b t a k -> (b t) (k a)"))
        else:
            cond = h.new_zeros(h.shape[:2])
        for block in self.blocks:
            h = block(h, cond)
        out = rearrange(self.head(F.gelu(self.norm(h))), "(b t) c h w -> b t (c h w)", b=b)
        return z + out


@PREDICTORS.register("cells")
class CellTransformerPredictor(nn.Module):
    """For patch latents (``grid`` x ``grid`` cells of ``latent_dim / grid^2`` channels, channel-major): a
    transformer whose tokens are the cells of the last ``max_history`` grids, as DINO-WM's predictor over
    patch features. Each cell attends to every cell of its own frame and of the frames before it, so a push
    at one place of the frame reaches the object at another within one block, where ``ConvPredictor``
    needs a stack of 3 x 3 convolutions. Each frame's tokens are conditioned on its action by adaLN-zero.

    Predicts a residual: ``z_next[t] = z[t] + head(h[t])``, cell by cell.
    """

    blocks_start_as_identity = True

    def __init__(
        self,
        latent_dim: int,
        action_dim: int,
        max_history: int,
        width: int = 128,
        depth: int = 2,
        heads: int = 4,
        grid: int = 8,
    ) -> None:
        super().__init__()
        self.max_history, self.cells = max_history, grid * grid
        channels = cell_channels("CellTransformerPredictor", latent_dim, grid)
        self.inp = nn.Linear(channels, width)
        self.place = nn.Parameter(torch.randn(1, 1, self.cells, width) * 0.02)  # which cell
        self.time = nn.Parameter(torch.randn(1, max_history, 1, width) * 0.02)  # which frame of the window
        self.action = action_embedding(action_dim, width)
        self.blocks = nn.ModuleList(AdaLNBlock(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, channels)

    def forward(self, z: torch.Tensor, actions: torch.Tensor, last: bool = False) -> torch.Tensor:
        """``last``: only the last step's prediction, ``[B, 1, D]`` (what a rollout reads)."""
        b, t, _ = z.shape
        n = self.cells
        if t > self.max_history:
            raise ValueError(f"predictor history: at most {self.max_history} steps, got {t}")
        cells = rearrange(z, "b t (c n) -> b t n c", n=n)
        x = (self.inp(cells) + self.place + self.time[:, :t]).flatten(1, 2)  # [B, T x N, W]
        cond = self.action(actions) if self.action is not None else x.new_zeros(b, t, x.shape[-1])
        cond = cond.repeat_interleave(n, dim=1)  # each frame's action, for each of its cells
        frame = torch.arange(t, device=z.device).repeat_interleave(n)
        mask = frame[:, None] >= frame[None, :]  # a cell sees its own frame and the ones before
        for i, block in enumerate(self.blocks):
            x = block(x, cond, mask, queries=n if last and i == len(self.blocks) - 1 else 0)
        if last:
            cells, x = cells[:, -1:], x[:, -n:]
        out = cells + rearrange(self.head(self.norm(x)), "b (t n) c -> b t n c", n=n)
        return rearrange(out, "b t n c -> b t (c n)")

"""SIGReg: sketched isotropic Gaussian regularisation (LeJEPA; used by LeWM against collapse).

For random unit directions ``u`` the projections ``h = z @ u`` of a batch should be standard
normal. The Epps-Pulley statistic compares their empirical characteristic function with the
Gaussian one, ``N * integral |phi_N(t) - exp(-t^2 / 2)|^2 exp(-t^2 / 2) dt``, which is ~0 for
Gaussian latents and large for collapsed ones. Averaged over the directions.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class SIGReg(nn.Module):
    """``forward(z [N, D]) -> scalar``; ``z [T, N, D]`` tests each of the T batches and averages.

    Under ``torch.distributed`` the characteristic function is averaged over all ranks (with
    gradients), so every rank returns the statistic of the global batch, not of its shard. Each
    rank's gradient is then ``world_size`` times the full-batch one, so that DDP's averaging of
    parameter gradients reproduces single-process training on the global batch exactly.
    """

    def __init__(self, num_projections: int = 256, knots: int = 17, t_max: float = 3.0) -> None:
        super().__init__()
        self.num_projections = num_projections
        t = torch.linspace(0.0, t_max, knots)
        # Trapezoid weights on [0, t_max], doubled: the integrand is even in t.
        step = t_max / (knots - 1)
        weights = torch.full((knots,), 2.0 * step)
        weights[[0, -1]] = step
        self.register_buffer("t", t, persistent=False)
        self.register_buffer("weights", weights * torch.exp(-0.5 * t**2), persistent=False)
        self.register_buffer("target", torch.exp(-0.5 * t**2), persistent=False)

    def forward(self, z: torch.Tensor, bank: torch.Tensor | None = None) -> torch.Tensor:
        """``bank [M, D]``: more samples of the same distribution, tested with ``z`` (with each of the T
        batches of a 3-D ``z``); no gradient flows into them, and their characteristic function costs no
        backward pass."""
        if z.dim() == 2:
            z = z.unsqueeze(0)
        _, n, d = z.shape
        directions = torch.randn(d, self.num_projections, device=z.device, dtype=z.dtype)
        directions = directions / directions.norm(dim=0, keepdim=True)
        distributed = dist.is_available() and dist.is_initialized()
        if distributed:
            dist.broadcast(directions, src=0)  # every rank must test the same directions
        cos, sin = self._sums(z, directions)  # empirical CF times N, [T, P, K]
        if bank is not None:
            with torch.no_grad():
                bank_cos, bank_sin = self._sums(bank.unsqueeze(0), directions)
            cos, sin, n = cos + bank_cos, sin + bank_sin, n + bank.shape[0]
        cos, sin = cos / n, sin / n
        world = 1
        if distributed:
            world = dist.get_world_size()
            cos, sin = _all_reduce_sum(cos) / world, _all_reduce_sum(sin) / world
        error = (cos - self.target) ** 2 + sin**2  # [T, P, K]
        return (error @ self.weights).mean() * n * world

    def _sums(self, z: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z [T, N, D]`` -> sums over N of ``cos(t h)`` and ``sin(t h)``, ``h = z @ directions``: ``[T, P, K]``."""
        angles = (z @ directions).unsqueeze(-1) * self.t  # [T, N, P, K]
        return angles.cos().sum(1), angles.sin().sum(1)


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, differentiable (the backward pass sums the gradients over ranks too)."""
    from torch.distributed._functional_collectives import all_reduce

    return all_reduce(tensor, "sum", dist.group.WORLD)

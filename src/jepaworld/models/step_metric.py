"""The prediction error measured in model steps: a running whitening by one step's latent change.

With the Euclidean error, what the agent moves every step dominates the prediction loss, and an object
that moves only when pushed (Push-T's block, its angle; Cube's yaw) hardly counts: the encoder can leave
out what that object's motion depends on at almost no cost. Measured in units of one model step's change
(``W = Sigma^-1/2``, ``Sigma`` the second moment of ``z[t+1] - z[t]``, its eigenvalues shrunk toward their
mean), a slow quantity's error weighs as much as the agent's. This is the planner's ``steps`` metric
(``planning.metric``), estimated while training instead of once on a data file.

``Sigma`` is a running average over batches, without gradient: the loss cannot shrink by moving it.
``W`` is scaled so that a change of average size keeps its length, so the loss keeps the Euclidean one's
scale and SIGReg's weight means the same against it.

``floor=True`` (the ``slow`` prediction metric) keeps every direction's weight at least 1: the slow
directions are weighed up as in the steps metric, the fast ones (the agent's) keep their Euclidean
weight, so what the agent does is not made cheaper to mispredict.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class StepWhitening(nn.Module):
    """``update(deltas [N, D])`` folds a batch's one-step changes into the running second moment;
    ``forward(error [..., D]) -> error @ W [..., D]``, the error in the metric.

    ``momentum``: weight of the old moment at each update (the first update takes the batch's as is).
    The moment is not saved in checkpoints: a resumed or fine-tuned run measures it anew from its first
    batch (a few hundred steps settle it at the default momentum).
    ``floor``: no direction's weight below 1 (only the slow directions are weighed up).
    """

    def __init__(self, latent_dim: int, shrink: float = 0.1, momentum: float = 0.99, floor: bool = False) -> None:
        super().__init__()
        if not 0 < shrink <= 1:
            raise ValueError(f"shrink must be in (0, 1], got {shrink}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.shrink, self.momentum, self.floor = shrink, momentum, floor
        self.register_buffer("moment", torch.zeros(latent_dim, latent_dim, dtype=torch.float64), persistent=False)
        self.register_buffer("whitening", torch.eye(latent_dim), persistent=False)
        self.updates = 0

    @torch.no_grad()
    def update(self, deltas: torch.Tensor) -> None:
        """One model step's latent changes ``[N, D]`` (any N >= 1) -> a new running moment and ``W``."""
        d = self.moment.shape[0]
        if deltas.dim() != 2 or deltas.shape[1] != d or not len(deltas):
            raise ValueError(f"step changes: expected [N >= 1, {d}], got shape {list(deltas.shape)}")
        deltas = deltas.to(torch.float64)
        batch = deltas.T @ deltas / len(deltas)
        if dist.is_available() and dist.is_initialized():  # every rank whitens by the global batch's moment
            dist.all_reduce(batch)
            batch /= dist.get_world_size()
        keep = self.momentum if self.updates else 0.0
        self.moment.mul_(keep).add_(batch, alpha=1 - keep)
        self.updates += 1
        eigenvalues, vectors = torch.linalg.eigh(self.moment)
        eigenvalues = eigenvalues.clamp(min=0.0)
        mean = eigenvalues.mean()
        if not mean > 0:  # nothing has moved yet (a frozen first batch): keep the Euclidean error
            return
        shrunk = (1 - self.shrink) * eigenvalues + self.shrink * mean
        weights = (mean / shrunk).sqrt()
        if self.floor:
            weights = weights.clamp(min=1.0)
        self.whitening.copy_((vectors * weights) @ vectors.T)

    def forward(self, error: torch.Tensor) -> torch.Tensor:
        return error @ self.whitening.to(error.dtype)

"""The JEPA world model: encode frames to latents, predict the next latent from (history, action).

Training loss = next-latent prediction error + ``sigreg_weight`` * SIGReg(latents). No pixel
reconstruction, no EMA target: the regulariser alone keeps the latents from collapsing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from jepaworld.config import check, option
from jepaworld.models.encoders import ENCODERS, GridProjector, Projector, grid_layers
from jepaworld.models.predictors import GRID_PREDICTORS, PREDICTORS
from jepaworld.models.sigreg import SIGReg
from jepaworld.models.step_metric import StepWhitening
from jepaworld.types import check_shape

PREDICTION_METRICS = ("latent", "steps", "slow")


@dataclass(frozen=True)
class ModelConfig:
    """World-model architecture; with ``env_action_dim`` and bounds it fully rebuilds the model."""

    encoder: str = option("cnn", "frame encoder: cnn (default, fast on CPU) or vit (tiny ViT)")
    encoder_width: int = option(16, "CNN base channels (doubling 4 times) or ViT width")
    predictor: str = option(
        "transformer",
        "predictor: transformer (causal, adaLN actions) or mlp; for patch latents conv (3 x 3 convolutions over "
        "the grid) or cells (a transformer whose tokens are the grid's cells)",
    )
    predictor_width: int = option(128, "predictor hidden width")
    predictor_depth: int = option(2, "predictor blocks / layers")
    latent_dim: int = option(128, "latent size D")
    latent_grid: int = option(
        0,
        "0: one latent vector per frame; G > 0: patch latents, a G x G grid of D / G^2 channels per cell (cnn "
        "encoder, conv or cells predictor), so that the loss asks what is at each place of the frame; e.g. "
        "--latent-grid 8 --latent-dim 1024 --predictor conv --sigreg-cells (16 channels a cell; the default D gives 2)",
    )
    history: int = option(3, "latents the predictor sees (its causal context)")
    frameskip: int = option(5, "env steps per model step; a model action is frameskip env actions")
    image_size: int = option(64, "frame height and width, pixels")
    sigreg_weight: float = option(0.1, "lambda: weight of SIGReg in the loss")
    sigreg_projections: int = option(256, "random directions SIGReg tests per step")
    rollout_steps: int = option(
        0,
        "also train on the last K latents imagined open-loop from the ones before them (0: one-step only); "
        "K >= history lengthens the training windows to K + 2 frames (e.g. the planning horizon, with "
        "--freeze-encoder)",
    )
    motion_sigreg_weight: float = option(
        0.0, "weight of SIGReg on each window's latents minus their window mean: what moves must be encoded"
    )
    sigreg_cells: bool = option(
        False,
        "patch latents: SIGReg tests each cell's channels over the batch (per time step and cell), so that every "
        "place of the frame must say what is there, instead of testing the whole grid as one vector",
    )
    sigreg_bank: int = option(
        0,
        "0: SIGReg tests each time step's batch of B latents; K > 0: it tests the window's B x T latents at "
        "once together with the K latents of the batches before (kept, no gradient): more samples, more power "
        "to see a quantity the latents leave out",
    )
    prediction_metric: str = option(
        "latent",
        "distance the prediction error is measured in: latent (Euclidean) or steps (whitened by a running second "
        "moment of one model step's latent change, so what moves only when pushed weighs as much as the agent) or "
        "slow (the same, but no direction weighs less than in the latent metric: only the slow ones are weighed up)",
    )
    prediction_shrink: float = option(
        0.1, "steps and slow prediction metrics: shrink the scales toward their mean (0 < s <= 1; 1: the latent metric)"
    )
    env_action_dim: int = option(2, "action size of the env, 0 for videos (filled from the data)", cli=False)

    def __post_init__(self) -> None:
        check(self.encoder in ENCODERS, f"encoder must be one of {ENCODERS.names()}, got {self.encoder!r}")
        check(self.predictor in PREDICTORS, f"predictor must be one of {PREDICTORS.names()}, got {self.predictor!r}")
        for name in (
            "encoder_width",
            "predictor_width",
            "predictor_depth",
            "latent_dim",
            "history",
            "frameskip",
            "sigreg_projections",
        ):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(self.latent_grid >= 0, f"latent_grid must be >= 0 (0: one vector per frame), got {self.latent_grid}")
        if self.latent_grid or self.predictor in GRID_PREDICTORS:
            g = self.latent_grid
            check(
                g > 0 and self.encoder == "cnn" and self.predictor in GRID_PREDICTORS,
                "patch latents take --latent-grid G > 0 with --encoder cnn and --predictor conv or cells together, "
                f"got latent_grid={g}, encoder={self.encoder!r}, predictor={self.predictor!r}",
            )
            check(
                self.latent_dim % (g * g) == 0,
                f"latent_dim must be a multiple of latent_grid^2 = {g * g}, got {self.latent_dim}",
            )
            grid_layers(self.image_size, g)
        check(self.env_action_dim >= 0, f"env_action_dim must be >= 0 (0: action-free), got {self.env_action_dim}")
        check(self.sigreg_weight >= 0, f"sigreg_weight must be >= 0, got {self.sigreg_weight}")
        check(
            self.prediction_metric in PREDICTION_METRICS,
            f"prediction_metric must be one of {list(PREDICTION_METRICS)}, got {self.prediction_metric!r}",
        )
        check(0 < self.prediction_shrink <= 1, f"prediction_shrink must be in (0, 1], got {self.prediction_shrink}")
        check(self.sigreg_bank >= 0, f"sigreg_bank must be >= 0, got {self.sigreg_bank}")
        check(
            not self.sigreg_cells or (self.latent_grid > 0 and not self.sigreg_bank),
            f"sigreg_cells takes patch latents (--latent-grid G > 0) and no --sigreg-bank, got latent_grid="
            f"{self.latent_grid}, sigreg_bank={self.sigreg_bank}",
        )
        check(self.motion_sigreg_weight >= 0, f"motion_sigreg_weight must be >= 0, got {self.motion_sigreg_weight}")
        check(self.rollout_steps >= 0, f"rollout_steps must be >= 0, got {self.rollout_steps}")

    @property
    def window_frames(self) -> int:
        """Frames of one training window: the history and the next frame, or more for a longer rollout loss."""
        return max(self.history + 1, self.rollout_steps + 2)

    @property
    def action_dim(self) -> int:
        """Size of one model action: ``frameskip`` env actions, concatenated (0 for an action-free model)."""
        return self.frameskip * self.env_action_dim

    @property
    def action_free(self) -> bool:
        """Trained on video without actions: it encodes and predicts, but cannot plan."""
        return self.env_action_dim == 0


class WorldModel(nn.Module):
    """Encoder + projector + predictor + anti-collapse regulariser.

    ``encode(obs [B, T, C, H, W]) -> z [B, T, D]``
    ``predict(z [B, T, D], a [B, T, A]) -> z_next [B, T, D]``
    ``rollout(z0 [B, D] | [B, T0, D], actions [B, H, A]) -> z [B, H, D]``
    ``loss(batch) -> (loss, metrics)``; ``surprise(obs, actions) -> [B, T]``

    An action-free model (``action_dim == 0``, learned from video) takes actions ``[B, T, 0]``, or ``None``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        projector: nn.Module,
        predictor: nn.Module,
        regulariser: nn.Module,
        *,
        history: int,
        action_dim: int,
        sigreg_weight: float,
        rollout_steps: int = 0,
        motion_sigreg_weight: float = 0.0,
        sigreg_bank: int = 0,
        sigreg_cells: int = 0,
        step_whitening: StepWhitening | None = None,
    ) -> None:
        super().__init__()
        self.encoder, self.projector, self.predictor = encoder, projector, predictor
        self.regulariser = regulariser
        self.history, self.action_dim, self.sigreg_weight = history, action_dim, sigreg_weight
        self.rollout_steps, self.motion_sigreg_weight = rollout_steps, motion_sigreg_weight
        self.sigreg_bank = sigreg_bank
        self.sigreg_cells = sigreg_cells  # G * G: SIGReg tests each of the grid's cells apart; 0: the whole latent
        self.step_whitening = step_whitening  # None: the prediction error is Euclidean
        self._bank: torch.Tensor | None = None  # the latest sigreg_bank latents of earlier batches, detached

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, T, C, H, W]`` (uint8 or float in [0, 1]) -> latents ``[B, T, D]``."""
        return self.projector(self.encoder(obs))

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray | torch.Tensor, batch: int = 512) -> torch.Tensor:
        """Frames ``[N, H, W, C]`` uint8, channels last as envs and episode files hold them -> latents
        ``[N, D]`` float32 on the CPU: ``batch`` frames at a time on the model's device, no gradients.
        The caller sets the mode (``eval()``: batch norm on its running statistics, as planning sees it)."""
        device = next(self.parameters()).device
        out = [torch.zeros(0, self.projector.out_dim)]
        for lo in range(0, len(frames), batch):
            obs = torch.as_tensor(np.ascontiguousarray(frames[lo : lo + batch])).to(device)
            out.append(self.encode(rearrange(obs, "n h w c -> n 1 c h w"))[:, 0].float().cpu())
        return torch.cat(out)

    def _actions(self, actions: torch.Tensor | None, z: torch.Tensor, steps: int) -> torch.Tensor:
        """``None`` stands for the empty actions of an action-free model; a model with actions needs them."""
        if actions is not None:
            return actions
        if self.action_dim:
            raise ValueError(f"this model is action-conditioned: expected actions [B, {steps}, {self.action_dim}]")
        return z.new_zeros(z.shape[0], steps, 0)

    def predict(self, z: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
        """Latents ``[B, T, D]``, actions ``[B, T, A]`` -> next latents ``[B, T, D]`` (causal)."""
        actions = self._actions(actions, z, z.shape[1])
        check_shape("actions", actions, [z.shape[0], z.shape[1], self.action_dim])
        return self.predictor(z, actions)

    def rollout(
        self,
        z0: torch.Tensor,
        actions: torch.Tensor,
        past_actions: torch.Tensor | None = None,
        context: int | None = None,
        predictor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Imagine the latents after each action.

        z0 ``[B, D]`` (one frame) or ``[B, T0, D]`` (a history; then ``past_actions [B, T0 - 1, A]``
        are the actions between those frames), actions ``[B, H, A]`` -> ``[B, H, D]``.
        The predictor sees a sliding window of the last ``context`` latents (default: ``history``);
        training is causal, so any ``context <= history`` is in distribution, and 1 is the cheapest.
        ``predictor``: what to imagine with instead of ``self.predictor`` (a ``torch.compile``d copy).
        """
        predictor = self.predictor if predictor is None else predictor
        window = self.history if context is None else context
        if not 1 <= window <= self.history:
            raise ValueError(f"rollout context must be in [1, {self.history}], got {context}")
        z = (z0.unsqueeze(1) if z0.dim() == 2 else z0).contiguous()  # planners pass z0 expanded (stride 0)
        b, t0, _ = z.shape
        check_shape("rollout actions", actions, [b, "H", self.action_dim])
        a = actions.new_zeros(b, 0, self.action_dim) if past_actions is None else past_actions
        check_shape("rollout past_actions", a, [b, t0 - 1, self.action_dim])
        out = []
        for h in range(actions.shape[1]):
            a = torch.cat([a, actions[:, h : h + 1]], dim=1)[:, -window:]
            z_next = predictor(z[:, -window:], a, last=True)  # [B, 1, D]
            z = torch.cat([z[:, max(0, z.shape[1] - window + 1) :], z_next], dim=1)  # last window - 1 + new
            a = a[:, max(0, a.shape[1] - window + 1) :]
            out.append(z_next)
        return torch.cat(out, dim=1)

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """batch ``frames [B, T+1, C, H, W]``, ``actions [B, T, A]`` -> (loss, metrics).

        Teacher-forced: output ``t`` predicts latent ``t + 1`` from latents ``<= t`` (over the first
        ``history + 1`` frames). With ``rollout_steps = K`` the last K latents are also imagined open-loop
        (each prediction fed back) from the true ones before them, and that error is added: a model that
        hedges one step ahead pays for it over the next ones.

        A batch may hold ``latents [B, T+1, D]`` of a fixed encoder in place of ``frames``: then only the
        predictor learns, and SIGReg, which has nothing left to shape, is reported but not in the loss.
        """
        actions, fixed = batch["actions"], "latents" in batch
        z = batch["latents"] if fixed else self.encode(batch["frames"])  # [B, T+1, D]
        if self.step_whitening is not None and self.training:
            self.step_whitening.update((z[:, 1:] - z[:, :-1]).detach().flatten(0, 1))
        h = min(self.history, z.shape[1] - 1)
        pred = self.predict(z[:, :h], actions[:, :h])  # [B, h, D]
        prediction = self._error(pred, z[:, 1 : h + 1])
        with torch.set_grad_enabled(torch.is_grad_enabled() and not fixed):
            regulariser = self._sigreg(z)
        loss = prediction if fixed else prediction + self.sigreg_weight * regulariser
        metrics = {"pred": prediction.item(), "sigreg": regulariser.item()}
        if self.step_whitening is not None:  # the Euclidean error too, comparable with a latent-metric run's
            metrics["pred_latent"] = F.mse_loss(pred, z[:, 1 : h + 1]).item()
        if self.motion_sigreg_weight > 0 and not fixed:
            motion = self.regulariser((z - z.mean(1, keepdim=True)).transpose(0, 1))
            loss = loss + self.motion_sigreg_weight * motion
            metrics["motion_sigreg"] = motion.item()
        k = min(self.rollout_steps, z.shape[1] - 2)
        if k > 0:
            c = z.shape[1] - k  # context frames; actions[:, c - 1 :] lead to the K imagined ones
            imagined = self.rollout(z[:, :c], actions[:, c - 1 :], past_actions=actions[:, : c - 1])
            rollout = self._error(imagined, z[:, c:])
            loss = loss + rollout
            metrics["rollout"] = rollout.item()
        with torch.no_grad():
            z_std = z.flatten(0, 1).std(0).mean()
        return loss, {"loss": loss.item(), **metrics, "z_std": z_std.item()}

    def _error(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared prediction error ``[B, T, D]`` x 2 -> scalar, in the steps metric where one is set."""
        if self.step_whitening is None:
            return F.mse_loss(pred, target)
        return self.step_whitening(pred - target).pow(2).mean()

    def _sigreg(self, z: torch.Tensor) -> torch.Tensor:
        """SIGReg of latents ``[B, T, D]``: per time step over the batch, or (``sigreg_bank``) over all of
        them and the bank, which then takes in this batch's latents in place of its oldest."""
        if self.sigreg_cells:  # [B, T, C x N] (channel-major) -> T x N batches of B cell latents [B, C]
            return self.regulariser(rearrange(z, "b t (c n) -> (t n) b c", n=self.sigreg_cells))
        if not self.sigreg_bank:
            return self.regulariser(z.transpose(0, 1))
        flat = z.flatten(0, 1)
        bank = self._bank.to(flat) if self._bank is not None and self.training else None
        if self.training:
            self._bank = (flat.detach() if bank is None else torch.cat([flat.detach(), bank]))[: self.sigreg_bank]
        return self.regulariser(flat, bank)

    @torch.no_grad()
    def surprise(self, obs: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        """Per-step prediction error: obs ``[B, T+1, C, H, W]``, actions ``[B, T, A]`` -> ``[B, T]``.

        Step ``t`` is the mean squared error between the latent of frame ``t + 1`` and its prediction
        from the ``history`` frames up to ``t``: how unexpected frame ``t + 1`` was.
        """
        z = self.encode(obs)  # [B, T+1, D]
        b, t1, d = z.shape
        actions = self._actions(actions, z, t1 - 1)
        check_shape("surprise actions", actions, [b, t1 - 1, self.action_dim])
        h = self.history
        pad_z = torch.cat([z[:, :1].expand(b, h - 1, d), z[:, :-1]], dim=1)  # [B, T+h-1, D]
        pad_a = torch.cat([actions.new_zeros(b, h - 1, self.action_dim), actions], dim=1)
        zw = pad_z.unfold(1, h, 1).permute(0, 1, 3, 2).flatten(0, 1)  # [B*T, h, D]
        aw = pad_a.unfold(1, h, 1).permute(0, 1, 3, 2).flatten(0, 1)
        pred = self.predictor(zw, aw, last=True).view(b, t1 - 1, d)
        return (pred - z[:, 1:]).pow(2).mean(-1)


def build_encoder(config: ModelConfig) -> nn.Module:
    """A fresh encoder of ``config``'s architecture (its grid too, for patch latents)."""
    grid = {"grid": config.latent_grid} if config.latent_grid else {}
    return ENCODERS.build(config.encoder, image_size=config.image_size, width=config.encoder_width, **grid)


def build_world_model(config: ModelConfig) -> WorldModel:
    """The entry point that reads a ``ModelConfig``; the parts themselves take plain values."""
    encoder = build_encoder(config)
    grid = {"grid": config.latent_grid} if config.latent_grid else {}
    if grid:
        projector = GridProjector(encoder.grid_channels, config.latent_grid, config.latent_dim)
    else:
        projector = Projector(encoder.out_dim, config.latent_dim)
    predictor = PREDICTORS.build(
        config.predictor,
        latent_dim=config.latent_dim,
        action_dim=config.action_dim,
        max_history=config.history,
        width=config.predictor_width,
        depth=config.predictor_depth,
        **grid,
    )
    regulariser = SIGReg(num_projections=config.sigreg_projections)
    return WorldModel(
        encoder,
        projector,
        predictor,
        regulariser,
        history=config.history,
        action_dim=config.action_dim,
        sigreg_weight=config.sigreg_weight,
        rollout_steps=config.rollout_steps,
        motion_sigreg_weight=config.motion_sigreg_weight,
        sigreg_bank=config.sigreg_bank,
        sigreg_cells=config.latent_grid**2 if config.sigreg_cells else 0,
        step_whitening=(
            StepWhitening(config.latent_dim, config.prediction_shrink, floor=config.prediction_metric == "slow")
            if config.prediction_metric in ("steps", "slow")
            else None
        ),
    )

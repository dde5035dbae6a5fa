"""The public Python API: a trained world model, numpy in and numpy out.

    import jepaworld
    wm = jepaworld.load("runs/demo-two-room/run")      # a run directory or a checkpoint directory
    z = wm.encode(frames)                             # [T, 64, 64, 3] uint8 -> [T, D] float32
    plan = wm.plan(frame, goal_frame)                 # -> Plan: actions [H, A], energy, imagined latents
    plan = wm.plan(last_frames, goal_frame, past_actions=between, blocks=True)  # from a history; [H, k * A]
    plan = wm.plan(frame, goal_frame, metric="steps")  # energies in units of one model step's change
    z_future = wm.rollout(frame, plan.actions)        # [H, D]: what the model imagines those actions do
    s = wm.surprise(frames, actions)                  # [T + 1] frames, [T, A] actions -> [T]
    pictures = wm.decode(z_future)                    # [H, 64, 64, 3] uint8, once `train-decoder` has run

Frames are RGB uint8 ``[H, W, 3]`` at the model's image size, one per model step. A model step's
action is one env action ``[A]`` held for ``frameskip`` env steps (the planners' default), or a block
``[frameskip * A]``: the step's env actions one after another (``plan(..., blocks=True)``, as
``eval --plan-blocks``); methods taking actions take either width. Every env action must lie inside
the env's action bounds. The CLI, the HTTP service and the web viewer are thin layers over
``LoadedWorldModel``; every method is safe to call from several threads.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from einops import repeat

from jepaworld.config import to_dict
from jepaworld.eval.agents import metric_whitening, model_functions, planning_bounds
from jepaworld.models import WorldModel
from jepaworld.models.decoder import FrameDecoder
from jepaworld.planning import PlannerConfig, build_planner
from jepaworld.planning.metric import check_metric_options, in_metric
from jepaworld.planning.mpc import rollout_after
from jepaworld.train.checkpoint import CheckpointInfo, load_checkpoint
from jepaworld.train.decoder import load_decoder
from jepaworld.train.trainer import resolve_device

#: Tolerance on action bounds, so that a bound sent through JSON and back still counts as inside.
BOUNDS_SLACK = 1e-5


@dataclass
class Plan:
    """A planner's answer for one start and goal."""

    actions: np.ndarray  # [H, A] one env action per model step, held frameskip env steps; [H, k * A] with blocks
    energy: float  # energy of the chosen actions (latent distance to the goal, lower is nearer)
    energy_per_iteration: list[float]  # best energy after each planner iteration
    latents: np.ndarray  # [H, D] the imagined rollout of `actions`, as the planner imagined it
    plan_seconds: float  # wall time of the search
    planner: dict[str, Any] = field(default_factory=dict)  # the PlannerConfig used
    blocks: bool = False  # actions are blocks of frameskip env actions
    context: int = 1  # frames the plan started from (the start and the history before it)
    metric: str = "latent"  # the latent metric the energy was measured in (planning.metric)


class LoadedWorldModel:
    """A world model with its checkpoint's facts (env, action bounds, frameskip) and, optionally, a decoder."""

    def __init__(
        self,
        model: WorldModel,
        info: CheckpointInfo,
        decoder: FrameDecoder | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.model, self.info, self.decoder = model, info, decoder
        self.device = torch.device(device)
        self.action_low = np.asarray(info.action_low, dtype=np.float32)
        self.action_high = np.asarray(info.action_high, dtype=np.float32)
        self._encode_one = model_functions(model, self.frameskip, self.device)[0]  # frame [H, W, 3] -> z [D]
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core
        self._whitenings: dict[tuple[str, float], torch.Tensor] = {}  # (metric data, shrink) -> steps metric

    # --- facts ------------------------------------------------------------------------------------
    @property
    def env_id(self) -> str:
        return self.info.env_id

    @property
    def latent_dim(self) -> int:
        return self.info.model.latent_dim

    @property
    def image_size(self) -> int:
        return self.info.model.image_size

    @property
    def frameskip(self) -> int:
        return self.info.model.frameskip

    @property
    def history(self) -> int:
        return self.info.model.history

    @property
    def action_dim(self) -> int:
        return int(self.action_low.size)

    def describe(self) -> dict[str, Any]:
        """What a caller needs to talk to this model."""
        return {
            "env_id": self.env_id,
            "latent_dim": self.latent_dim,
            "image_size": self.image_size,
            "frameskip": self.frameskip,
            "history": self.history,
            "action_low": self.action_low.tolist(),
            "action_high": self.action_high.tolist(),
            "has_decoder": self.decoder is not None,
            "train_steps": self.info.step,
            "checkpoint": str(self.info.path),
        }

    # --- input checks -----------------------------------------------------------------------------
    def check_frames(self, frames, name: str = "frames") -> np.ndarray:
        """``[H, W, 3]`` or ``[T, H, W, 3]`` uint8 at the model's size -> ``[T, H, W, 3]``."""
        frames = np.asarray(frames)
        s = self.image_size
        expected = f"[T, {s}, {s}, 3] (or one frame [{s}, {s}, 3])"
        if frames.dtype != np.uint8:
            raise ValueError(f"{name}: expected uint8 RGB frames {expected}, got dtype {frames.dtype}")
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1:] != (s, s, 3) or len(frames) == 0:
            raise ValueError(f"{name}: expected uint8 RGB frames {expected}, got shape {list(np.shape(frames))}")
        return frames

    def check_actions(self, actions, name: str = "actions", steps: int | None = None, blocks: bool | None = None):
        """``[H, A]`` held env actions, or ``[H, frameskip * A]`` blocks, finite and inside the bounds ->
        float32 as given. ``blocks``: which width; ``None`` takes either."""
        actions = np.asarray(actions, dtype=np.float32)
        a, k = self.action_dim, self.frameskip
        widths = {False: [a], True: [k * a], None: sorted({a, k * a})}[blocks]
        if actions.ndim != 2 or actions.shape[1] not in widths or (steps is not None and len(actions) != steps):
            h = "H" if steps is None else str(steps)
            forms = {
                a: f"[{h}, {a}] (one env action per model step, held frameskip={k} env steps)",
                k * a: f"[{h}, {k * a}] (a block per model step: its {k} env actions of {a} one after another)",
            }
            expected = " or ".join(dict.fromkeys(forms[w] for w in widths))
            raise ValueError(f"{name}: expected shape {expected}, got {list(actions.shape)}")
        if not np.all(np.isfinite(actions)):
            raise ValueError(f"{name}: every action must be a finite number; got NaN or infinity")
        low, high = (np.tile(bound, actions.shape[1] // a) for bound in (self.action_low, self.action_high))
        outside = (actions < low - BOUNDS_SLACK) | (actions > high + BOUNDS_SLACK)
        if outside.any():
            row = int(np.argwhere(outside)[0][0])
            raise ValueError(
                f"{name}: env actions must lie in [{self.action_low.tolist()}, {self.action_high.tolist()}], "
                f"row {row} is {actions[row].tolist()}"
            )
        return actions

    def check_latents(self, latents, name: str = "latents") -> np.ndarray:
        latents = np.asarray(latents, dtype=np.float32)
        if latents.ndim == 1:
            latents = latents[None]
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim or not np.all(np.isfinite(latents)):
            raise ValueError(f"{name}: expected finite latents [N, {self.latent_dim}], got {list(latents.shape)}")
        return latents

    # --- the model --------------------------------------------------------------------------------
    def _obs(self, frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)[None].to(self.device)

    def _model_actions(self, actions: np.ndarray) -> torch.Tensor:
        """Checked ``[H, A]`` (each held frameskip steps) or ``[H, frameskip * A]`` -> ``[1, H, frameskip * A]``."""
        k = self.frameskip if actions.shape[1] == self.action_dim else 1
        return repeat(torch.from_numpy(actions), "h a -> 1 h (k a)", k=k).to(self.device)

    def _past_actions(self, frames: np.ndarray, past_actions) -> torch.Tensor | None:
        """The model actions between start frames, ``[1, T0 - 1, frameskip * A]``; ``None`` for one frame."""
        if len(frames) == 1 and past_actions is None:
            return None
        if past_actions is None:
            t, a = len(frames) - 1, self.action_dim
            raise ValueError(
                f"past_actions: {len(frames)} start frames need the actions between them, [{t}, {a}] "
                f"(or blocks [{t}, {self.frameskip * a}]); got none"
            )
        return self._model_actions(self.check_actions(past_actions, "past_actions", steps=len(frames) - 1))

    def encode(self, frames) -> np.ndarray:
        """Frames ``[T, H, W, 3]`` uint8 -> latents ``[T, D]`` float32."""
        frames = self.check_frames(frames)
        with self._lock, torch.inference_mode():
            return self.model.encode(self._obs(frames))[0].float().cpu().numpy()

    def rollout(self, frames, actions, past_actions=None, context: int | None = None) -> np.ndarray:
        """Imagine: start frames ``[T0, H, W, 3]`` (T0 <= history; with ``past_actions [T0 - 1, A]``
        between them when T0 > 1) and actions ``[H, A]`` -> latents ``[H, D]`` after each action (blocks
        ``[.., frameskip * A]`` as well). ``context``: latents the predictor sees (default ``history``; a
        plan imagines with the frames it started from, so ``context=plan.context`` reproduces ``Plan.latents``)."""
        frames = self.check_frames(frames, "start frames")
        if len(frames) > self.history:
            raise ValueError(f"start frames: at most history={self.history} frames, got {len(frames)}")
        actions = self.check_actions(actions)
        past = self._past_actions(frames, past_actions)
        with self._lock, torch.inference_mode():
            z0 = self.model.encode(self._obs(frames))  # [1, T0, D]
            z = self.model.rollout(z0, self._model_actions(actions), past_actions=past, context=context)
            return z[0].float().cpu().numpy()

    def plan(
        self,
        frame,
        goal,
        config: PlannerConfig | None = None,
        seed: int = 0,
        init=None,
        past_actions=None,
        blocks: bool = False,
        metric: str = "latent",
        metric_data: str | os.PathLike | None = None,
        metric_shrink: float = 0.1,
    ) -> Plan:
        """Search actions from ``frame [H, W, 3]`` to ``goal``: one frame ``[H, W, 3]`` or a set
        ``[G, H, W, 3]`` (reach any). ``init [horizon, A]``: a warm start (e.g. the last plan, shifted).

        ``frame`` may be the last T0 <= history frames ``[T0, H, W, 3]`` (oldest first, one per model
        step) with ``past_actions [T0 - 1, A]`` between them: the plan starts from that history, as
        ``eval --plan-context T0`` (what moves under momentum is not in one frame). ``blocks``: search
        each model step's ``frameskip`` env actions one by one, ``actions [H, frameskip * A]`` (as
        ``eval --plan-blocks``; ``init`` then as wide).

        ``metric="steps"`` measures the energy in units of one model step's latent change (as ``eval
        --metric steps``): an object that moves only when pushed then weighs as much as the agent. It is
        measured once, on ``metric_data`` (an episode file; default: the data the checkpoint was trained
        on) with ``metric_shrink``, and kept for later plans. ``Plan.latents`` stay the model's own."""
        config = config or PlannerConfig()
        frames = self.check_frames(frame, "frame")
        if len(frames) > self.history:
            raise ValueError(f"frame: one frame, or at most history={self.history} frames, got {len(frames)}")
        past = self._past_actions(frames, past_actions)
        goals = self.check_frames(goal, "goal")
        if init is not None:
            init = torch.from_numpy(self.check_actions(init, "init", steps=config.horizon, blocks=blocks))
        whitening = self.metric_whitening(metric, metric_data, metric_shrink)  # after the cheap checks: it reads data
        low, high = planning_bounds(self.action_low, self.action_high, self.frameskip, blocks)
        planner = build_planner(config, low, high, seed=seed)
        _, rollout_fn = model_functions(self.model, self.frameskip, self.device, context=len(frames), blocks=blocks)
        with self._lock:
            start = time.perf_counter()
            z = torch.stack([self._encode_one(f) for f in frames])  # [T0, D]
            if past is not None:
                rollout_fn = rollout_after(rollout_fn, z[:-1], past[0].cpu())
            z_goal = torch.stack([self._encode_one(g) for g in goals])
            to_plan, planned_rollout = (lambda z_: z_), rollout_fn
            if whitening is not None:  # the planner works in the metric's coordinates
                to_plan, planned_rollout = in_metric(to_plan, rollout_fn, whitening)
            z_goal = to_plan(z_goal)
            result = planner.plan(to_plan(z[-1]), z_goal[0] if len(goals) == 1 else z_goal, planned_rollout, init=init)
            seconds = time.perf_counter() - start
            with torch.inference_mode():
                latents = rollout_fn(z[-1][None], result.actions[None].float())[0]
        return Plan(
            actions=result.actions.numpy().astype(np.float32),
            energy=float(result.energy),
            energy_per_iteration=[float(e) for e in result.energy_per_iteration],
            latents=latents.numpy(),
            plan_seconds=seconds,
            planner=to_dict(config),
            blocks=blocks,
            context=len(frames),
            metric=metric,
        )

    def metric_whitening(
        self, metric: str, data: str | os.PathLike | None = None, shrink: float = 0.1
    ) -> torch.Tensor | None:
        """The ``steps`` metric's whitening ``W [D, D]`` (``planning.metric``), measured on the episode file
        ``data`` (default: the checkpoint's training data) the first time it is asked for; ``None`` for
        the latent metric."""
        check_metric_options(metric, shrink)
        if metric == "latent":
            return None
        key = (str(data or ""), float(shrink))
        with self._lock:
            if key not in self._whitenings:
                self._whitenings[key] = metric_whitening(self.model, self.info, metric, key[0], shrink)[0]
            return self._whitenings[key]

    def surprise(self, frames, actions) -> np.ndarray:
        """Frames ``[T + 1, H, W, 3]``, actions ``[T, A]`` (or blocks) between them -> ``[T]``: step ``t`` is the mean
        squared latent error of predicting frame ``t + 1`` from the frames up to ``t`` (higher: less expected)."""
        frames = self.check_frames(frames)
        if len(frames) < 2:
            raise ValueError(f"frames: surprise needs at least 2 frames [T + 1, H, W, 3], got {len(frames)}")
        actions = self.check_actions(actions, steps=len(frames) - 1)
        with self._lock, torch.inference_mode():
            return self.model.surprise(self._obs(frames), self._model_actions(actions))[0].float().cpu().numpy()

    def require_decoder(self) -> None:
        """``ValueError`` saying how to get one, unless this model has a decoder."""
        if self.decoder is None:
            raise ValueError(
                f"{self.info.path} has no decoder; to see imagined frames, run "
                f"`jepaworld train-decoder {self.info.path}`"
            )

    def decode(self, latents) -> np.ndarray:
        """Latents ``[N, D]`` -> frames ``[N, H, W, 3]`` uint8, for looking only (needs ``train-decoder``)."""
        self.require_decoder()
        z = torch.from_numpy(self.check_latents(latents)).to(self.device)
        with self._lock, torch.inference_mode():
            pixels = self.decoder(z).mul(255).round().clamp(0, 255).to(torch.uint8)
        return pixels.permute(0, 2, 3, 1).cpu().numpy()


def load(checkpoint: str | os.PathLike, device: str = "cpu") -> LoadedWorldModel:
    """Load a checkpoint (a checkpoint directory, or a run directory -> its latest) and its decoder if any."""
    device = resolve_device(device)
    model, info = load_checkpoint(checkpoint, device)
    return LoadedWorldModel(model, info, load_decoder(info.path, device), device)

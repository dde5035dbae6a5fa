"""Agents evaluated by the protocol: ``reset(env, seed, goal)``, then ``act(observation, env) -> action``.

They are where a planner meets an env: the world-model agent, the oracle (the same planner and MPC
loop on the true simulator state), the scripted solver and the random floor. ``goal`` is an
``eval.goals.Goal``: the goal image and, where known, its true state.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from einops import rearrange, repeat

from jepaworld.config import check
from jepaworld.data import EpisodeFile
from jepaworld.eval.probe import encode_episodes
from jepaworld.models import WorldModel
from jepaworld.planning import MPCAgent
from jepaworld.planning.metric import in_metric, step_whitening
from jepaworld.train import load_checkpoint
from jepaworld.types import RolloutFn

METRIC_EPISODES = 200  # episodes of the data the steps metric is measured on, spread over the file


class MetricDataMissing(ValueError):
    """The episode file the steps metric is measured on is not there; ``where`` names it."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def compiled_predictor(model: WorldModel, device: torch.device) -> Callable | None:
    """``torch.compile`` of the model's predictor, tried once on a small batch; ``None`` (with a warning)
    where compilation fails here (no C++ compiler, an unsupported platform): planning then runs eager."""
    predictor = torch.compile(model.predictor)
    z = torch.zeros(2, 1, model.projector.out_dim, device=device)
    try:
        with torch.inference_mode():
            predictor(z, torch.zeros(2, 1, model.action_dim, device=device))
    except Exception as error:  # any compiler failure falls back to eager
        warnings.warn(f"torch.compile failed, planning runs eager: {type(error).__name__}: {error}", stacklevel=2)
        return None
    return predictor


#: How an ensemble's imaginations are scored (``eval --ensemble-score``).
ENSEMBLE_SCORES = ("mean", "worst")


def check_ensemble_score(score: str) -> None:
    """The one check of ``--ensemble-score`` that ``EvalConfig`` and ``model_functions`` share."""
    check(score in ENSEMBLE_SCORES, f"ensemble_score must be one of {list(ENSEMBLE_SCORES)}, got {score!r}")


def model_functions(
    model: WorldModel,
    frameskip: int,
    device: torch.device | str = "cpu",
    context: int | None = None,
    compile: bool = False,
    blocks: bool = False,
    whitening: torch.Tensor | None = None,
    ensemble: Sequence[WorldModel] = (),
    ensemble_score: str = "mean",
) -> tuple[Callable, RolloutFn]:
    """``encode(frame [H, W, 3] uint8) -> z [D]`` and a rollout over planned actions for ``MPCAgent``.

    The planner searches one env action ``[A]`` per model step; the rollout repeats it ``frameskip``
    times to form the model's action ``[frameskip * A]``. With ``blocks`` the planner searches the
    model's action itself, ``frameskip`` env actions ``[frameskip * A]`` that may differ from each other
    (as a data policy's do: accelerate, then brake), and the rollout takes it as it is. ``context``:
    latents the predictor sees while imagining (``WorldModel.rollout``); 1 is the fastest. ``compile``:
    imagine with a ``torch.compile``d predictor (faster per rollout after a one-off compilation).
    ``whitening``: plan in the coordinates ``z @ W`` of a latent metric (``planning.metric``).
    ``ensemble``: more models on ``model``'s encoder (``shared_encoder_models``). ``ensemble_score``
    ``mean``: the rollout is the mean of every model's imagined latents ``[N, H, D]``; ``worst``: it is
    each model's, ``[N, M, H, D]``, and the planner scores a candidate by the worst of them.
    """
    check_ensemble_score(ensemble_score)
    device = torch.device(device)
    models = [model, *ensemble]
    predictors = [compiled_predictor(m, device) if compile else None for m in models]

    def encode(frame: np.ndarray) -> torch.Tensor:
        return model.encode_frames(frame[None])[0]

    def rollout(z0: torch.Tensor, actions: torch.Tensor, past_actions: torch.Tensor | None = None) -> torch.Tensor:
        # No inference_mode here: the gradient planner differentiates through it; sampling planners
        # call it under their own inference_mode. z0 [N, D], or a history [N, T0, D] with the model
        # actions between its frames, past_actions [N, T0 - 1, frameskip * A] (MPCAgent with context > 1).
        held = (actions if blocks else repeat(actions, "n h a -> n h (k a)", k=frameskip)).to(device)
        past = None if past_actions is None else past_actions.to(device)
        z0 = z0.to(device)
        imagined = [m.rollout(z0, held, past, context, p) for m, p in zip(models, predictors, strict=True)]
        if ensemble_score == "worst":
            return torch.stack(imagined, dim=1).float().cpu()
        return (imagined[0] if len(imagined) == 1 else torch.stack(imagined).mean(0)).float().cpu()

    return (encode, rollout) if whitening is None else in_metric(encode, rollout, whitening)


def shared_encoder_models(
    model: WorldModel, info, checkpoints: Sequence[str], device: torch.device
) -> list[WorldModel]:
    """The models of ``checkpoints``, each checked to hold ``model``'s very encoder and projector (weights
    and batch-norm statistics: predictors trained with ``--freeze-encoder`` from one model) and to imagine
    the same steps (``info``'s frameskip, history and action size), so that their imagined latents live in
    one space and may be averaged (``model_functions(ensemble=...)``)."""
    steps = {k: getattr(info.model, k) for k in ("frameskip", "history", "env_action_dim")}
    members = []
    for checkpoint in checkpoints:
        try:
            member, member_info = load_checkpoint(checkpoint, device)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"--ensemble: {error}") from None
        theirs = {k: getattr(member_info.model, k) for k in steps}
        if theirs != steps:
            raise ValueError(f"--ensemble {checkpoint}: expected a model of {steps} as {info.path}, got {theirs}")
        if differs := _first_other_weight(model, member):
            raise ValueError(
                f"--ensemble {checkpoint}: expected the encoder and projector of the evaluated checkpoint (a "
                f"predictor trained with --freeze-encoder on it), got other weights in {member_info.path} "
                f"({differs} differs)"
            )
        members.append(member)
    return members


def _first_other_weight(model: WorldModel, member: WorldModel) -> str:
    """The first encoder or projector tensor (batch-norm statistics included) where ``member`` is not
    ``model``; ``""`` where none is."""
    for part in ("encoder", "projector"):
        ours, theirs = getattr(model, part).state_dict(), getattr(member, part).state_dict()
        if ours.keys() != theirs.keys():
            return f"{part}'s layout"
        for name, tensor in ours.items():
            if not torch.equal(tensor, theirs[name].to(tensor.device)):
                return f"{part}.{name}"
    return ""


def metric_whitening(model: WorldModel, info, metric: str, data: str, shrink: float) -> tuple[torch.Tensor | None, str]:
    """The whitening of ``metric`` (``planning.metric``; ``None`` for the latent metric) -> (it, the episode
    file it was measured on: ``data``, else the one the checkpoint ``info`` was trained on)."""
    if metric != "steps":
        return None, ""
    source = data or info.extra.get("data", "")
    if not source or not Path(source).is_file():
        trained_on = f"the data {info.path} was trained on ({source or 'not recorded'})"
        where = f"the metric data {source}" if data else trained_on
        raise MetricDataMissing(
            f"the steps metric is measured on episodes, and {where} is not a file here: give the metric's data "
            "(--metric-data FILE, or metric_data= in Python: the training data, or episodes of the same env)",
            where,
        )
    return measure_step_whitening(model, source, info.model.frameskip, shrink), source


def measure_step_whitening(model: WorldModel, data: str, frameskip: int, shrink: float) -> torch.Tensor:
    """The ``steps`` metric's whitening ``W [D, D]`` (``planning.metric``), from the change of the
    latent over each model step (``frameskip`` frames) in up to ``METRIC_EPISODES`` episodes of ``data``."""
    with EpisodeFile(data) as episodes:
        count = episodes.num_episodes
        chosen = np.unique(np.linspace(0, count - 1, min(count, METRIC_EPISODES)).round().astype(int))
        latents = encode_episodes(model, episodes, chosen)
    deltas = [z[frameskip:] - z[:-frameskip] for z in latents if len(z) > frameskip]
    if not deltas:
        raise ValueError(f"{data}: no episode is longer than one model step ({frameskip} frames): no steps metric")
    return torch.as_tensor(step_whitening(np.concatenate(deltas), shrink), dtype=torch.float32)


def planning_bounds(low, high, frameskip: int, blocks: bool) -> tuple[np.ndarray, np.ndarray]:
    """The env's action bounds ``[A]`` -> those of what the planner searches per model step: ``[A]`` for a
    held action, ``[frameskip * A]`` for a block (``model_functions(blocks=True)``)."""
    low, high = np.asarray(low, dtype=np.float32), np.asarray(high, dtype=np.float32)
    return (np.tile(low, frameskip), np.tile(high, frameskip)) if blocks else (low, high)


class ModelAgent:
    """MPC with a planner over a world model's latents; the goal is the env's goal frame."""

    def __init__(self, planner, encode, rollout, frameskip, replan_every, context: int = 1, blocks: bool = False):
        self.mpc = MPCAgent(planner, encode, rollout, frameskip, replan_every, context=context, blocks=blocks)

    @property
    def plan_seconds(self) -> list[float]:
        return self.mpc.plan_seconds

    def reset(self, env, seed: int, goal) -> None:
        self.mpc.reset(goal.frame)

    def act(self, obs, env):
        return self.mpc.act(obs)


class OracleAgent(ModelAgent):
    """The same planner and MPC loop on the true simulator state instead of latents.

    ``physics.rollout(start [N, ...], env actions [N, T, A]) -> [N, T, F]`` imagines with the simulator.
    Where the env's physics has them, ``observe(env)`` gives the start (else ``env.state``) and
    ``features(state)`` the space the energy compares in (else the state itself, as Two-Room's position).
    """

    def __init__(self, planner, physics, frameskip, replan_every) -> None:
        self._observe = getattr(physics, "observe", lambda env: env.state)
        self._features = getattr(physics, "features", lambda state: state)
        self._start = None

        def rollout(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            held = repeat(actions, "n h a -> n (h k) a", k=frameskip)
            start = torch.as_tensor(self._start).expand(z0.shape[0], *np.shape(self._start))
            imagined = physics.rollout(start, held)[:, frameskip - 1 :: frameskip]
            return torch.as_tensor(imagined).float()

        super().__init__(planner, lambda z: z, rollout, frameskip, replan_every)

    def _state_features(self, state) -> torch.Tensor:
        return torch.as_tensor(self._features(np.asarray(state, dtype=np.float64))).float()

    def reset(self, env, seed: int, goal) -> None:
        self.mpc.reset(self._state_features(goal.state))

    def act(self, obs, env):
        self._start = self._observe(env.unwrapped)
        return self.mpc.act(self._state_features(env.unwrapped.state))


class SimulatorAgent(ModelAgent):
    """The planner imagining with the true simulator and scoring with the world model's energy.

    Each imagined state (``physics.rollout_states``) is drawn (``render_state``) and encoded
    (``encode_frames``: ``WorldModel.encode_frames``), and the energy compares those latents with the goal
    frame's, as the world-model agent's does (in the metric ``whitening`` where one is given). The world
    model's row against this one is what its dynamics cost; this row against the oracle's, what its
    latents cost as a measure of the goal.
    """

    def __init__(
        self, planner, physics, render_state, encode_frames, frameskip, replan_every, blocks=False, whitening=None
    ) -> None:
        self._observe = getattr(physics, "observe", lambda env: env.state)
        self._start = None

        def encode(frame: np.ndarray) -> torch.Tensor:
            return encode_frames(frame[None])[0]

        def rollout(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            if blocks:  # [N, H, frameskip * A]: the env actions of each model step, one after another
                env_actions = rearrange(actions, "n h (k a) -> n (h k) a", k=frameskip)
            else:
                env_actions = repeat(actions, "n h a -> n (h k) a", k=frameskip)
            start = np.broadcast_to(np.asarray(self._start), (len(actions), *np.shape(self._start)))
            states = physics.rollout_states(start, env_actions.cpu().numpy())
            states = states[:, frameskip - 1 :: frameskip]  # [N, H, S]: after each model step
            frames = np.stack([render_state(state) for state in states.reshape(-1, states.shape[-1])])
            return encode_frames(frames).view(*states.shape[:2], -1)  # [N, H, D]

        if whitening is not None:
            encode, rollout = in_metric(encode, rollout, whitening)
        super().__init__(planner, encode, rollout, frameskip, replan_every, blocks=blocks)

    def act(self, obs, env):
        self._start = self._observe(env.unwrapped)
        return self.mpc.act(obs)


class RandomAgent:
    """Uniform random actions, seeded by the episode: the floor every learned agent must beat."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def reset(self, env, seed: int, goal) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs, env):
        space = env.action_space
        return self.rng.uniform(space.low, space.high).astype(np.float32)


class ScriptedAgent:
    """The env's own scripted solver, ``env.unwrapped.scripted_action(goal_state)`` (where it has one)."""

    def reset(self, env, seed: int, goal) -> None:
        self.goal_state = goal.state

    def act(self, obs, env):
        return env.unwrapped.scripted_action(self.goal_state)


def has_oracle(env) -> bool:
    """Whether the env exposes its simulator (``physics.rollout`` over ``state``) for the oracle planner."""
    return hasattr(getattr(env.unwrapped, "physics", None), "rollout") and hasattr(env.unwrapped, "state")


def has_simulator_frames(env) -> bool:
    """Whether the env's simulator rolls out states (``physics.rollout_states``) and the env draws any state
    (``render_state``): what ``SimulatorAgent`` needs."""
    unwrapped = env.unwrapped
    return hasattr(getattr(unwrapped, "physics", None), "rollout_states") and hasattr(unwrapped, "render_state")


def has_scripted_solver(env) -> bool:
    return hasattr(env.unwrapped, "scripted_action")

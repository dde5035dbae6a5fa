"""The planner's own rollouts as training data: ``jepaworld collect --policy planner --checkpoint RUN``.

A world model trained on the data policy's episodes imagines well under that policy's actions, and
drifts under the planner's, which leave the data (Cube: the imagined latent 8 model steps into a plan
strays 0.6 from the real one; see README). Collecting episodes in which MPC with the model chases
goals (each where the data policy goes in ``goal_offset`` steps from the same start, as the
evaluation draws them, but from training seeds) and training on them together with the data
(``jepaworld data merge``) puts those states and actions into the data, as DAgger does for policies.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from jepaworld.data.collect import CollectConfig, collect
from jepaworld.envs.adapter import EnvError
from jepaworld.eval.agents import ModelAgent, metric_whitening, model_functions, planning_bounds
from jepaworld.eval.goals import GoalTask
from jepaworld.planning import PlannerConfig, build_planner
from jepaworld.train import load_checkpoint, resolve_device


@dataclass(frozen=True)
class PlannerPolicy:
    """``PlannerPolicy(...)(env) -> EpisodeStart``: loads the checkpoint once per process; each episode
    draws its goal, then MPC with that model acts (planner seeded by the episode)."""

    checkpoint: str
    goal_offset: int
    state_key: str
    momentum: float
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    replan_every: int = 1
    plan_context: int = 1
    plan_blocks: bool = False
    device: str = "auto"
    whitening: torch.Tensor | None = None  # the planner's latent metric (eval.agents.metric_whitening)
    threads: int = 0  # torch threads in a worker process; 0 leaves torch's default

    def __call__(self, env):
        if self.threads and multiprocessing.parent_process() is not None:  # a worker: its share of the CPU
            torch.set_num_threads(self.threads)
        device = resolve_device(self.device)
        model, info = load_checkpoint(self.checkpoint, device)
        if env.action_space.shape[0] != info.model.env_action_dim:
            raise EnvError(
                f"{env.name} has actions of size {env.action_space.shape[0]}; the checkpoint {info.path} plans "
                f"with size {info.model.env_action_dim}"
            )
        size = env.observation_space.shape[0]
        if size != info.model.image_size:
            raise EnvError(
                f"--image-size {size}: the checkpoint {info.path} sees {info.model.image_size}-pixel frames; "
                f"collect at --image-size {info.model.image_size}"
            )
        if self.plan_context > info.model.history:
            raise ValueError(
                f"--plan-context {self.plan_context}: {info.path} was trained with a history of "
                f"{info.model.history} latents; expected 1..{info.model.history}"
            )
        frameskip = info.model.frameskip
        encode, rollout = model_functions(
            model, frameskip, device, context=self.plan_context, blocks=self.plan_blocks, whitening=self.whitening
        )
        # Goals only have to need motion here (GoalTask.met); success is not judged, so no radius is needed.
        task = GoalTask(self.goal_offset, self.state_key, None, self.momentum, env.unwrapped)
        low, high = planning_bounds(env.action_space.low, env.action_space.high, frameskip, self.plan_blocks)

        def start(seed: int):
            obs, info, goal = task.reset(env, seed)
            planner = build_planner(self.planner, low, high, seed=seed)
            agent = ModelAgent(
                planner, encode, rollout, frameskip, self.replan_every, self.plan_context, self.plan_blocks
            )
            agent.reset(env, seed, goal)
            return obs, info, lambda frame: agent.act(frame, env)

        return start


def collect_planned(config: CollectConfig, planner: PlannerConfig | None = None, device: str = "auto") -> Path:
    """``collect`` with ``PlannerPolicy`` (``config.policy == "planner"``) -> the episode file written.

    With ``workers`` > 1 each process gets an equal share of the CPU's threads for its planning.
    """
    if config.policy != "planner":
        raise ValueError(f"collect_planned: expected a config with policy 'planner', got {config.policy!r}")
    threads = max(1, (os.cpu_count() or 1) // config.workers) if config.workers > 1 else 0
    whitening = None
    if config.metric != "latent":  # measured once here, not in every worker
        model, info = load_checkpoint(config.checkpoint, "cpu")
        whitening = metric_whitening(model, info, config.metric, config.metric_data, config.metric_shrink)[0]
    policy = PlannerPolicy(
        config.checkpoint,
        config.goal_offset,
        config.state_key,
        config.momentum,
        planner or PlannerConfig(),
        config.replan_every,
        config.plan_context,
        config.plan_blocks,
        device,
    )
    return collect(config, dataclasses.replace(policy, threads=threads, whitening=whitening))

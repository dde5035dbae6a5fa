"""The service's typed requests and responses (pydantic): they are the OpenAPI document at ``/openapi.json``.

Frames travel as ``{"format": "png", "data": [base64 PNG, ...]}`` (8-bit RGB, one per frame) or as
``{"format": "raw", "shape": [T, H, W, 3], "dtype": "uint8", "data": base64 of the C-order bytes}``.
Latents and actions are JSON arrays of numbers; NaN and infinities are refused.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, create_model

from jepaworld.planning import PlannerConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PngFrames(Strict):
    format: Literal["png"]
    data: list[str] = Field(description="base64 of one 8-bit RGB PNG per frame", min_length=1)


class RawFrames(Strict):
    format: Literal["raw"]
    shape: list[int] = Field(description="[T, H, W, 3]", min_length=4, max_length=4)
    dtype: Literal["uint8"] = "uint8"
    data: str = Field(description="base64 of the frames' bytes in C order")


Frames = Annotated[PngFrames | RawFrames, Field(discriminator="format")]
FrameFormat = Literal["png", "raw"]
Metric = Annotated[
    Literal["latent", "steps"],
    Field(
        description="latent distance the energy measures: latent (the latents' own) or steps (in units of one model "
        "step's change, measured once on the data the model was trained on, as `eval --metric steps`)"
    ),
]
MetricShrink = Annotated[float, Field(gt=0, le=1, description="steps metric: shrink its scales toward their mean")]
Actions = list[list[FiniteFloat]]
ACTIONS = "env actions, one per model step held frameskip env steps ([.., A]), or blocks of frameskip ([.., k * A])"
Model = Annotated[str, Field(description="a name from GET /v1/models", min_length=1)]


def _planner_settings() -> type[BaseModel]:
    """Every ``PlannerConfig`` field, optional (absent: the default), generated so the two never disagree."""
    hints = typing.get_type_hints(PlannerConfig)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(PlannerConfig):
        tp = FiniteFloat if hints[f.name] is float else hints[f.name]
        fields[f.name] = (tp | None, Field(None, description=f"{f.metadata['help']} (default {f.default!r})"))
    return create_model("PlannerSettings", __base__=Strict, **fields)


PlannerSettings = _planner_settings()


class Error(BaseModel):
    detail: Any = Field(description="what was expected and what came")


class ModelInfo(BaseModel):
    name: str
    env_id: str
    latent_dim: int
    image_size: int
    frameskip: int = Field(description="env steps per model step: each action is held this long")
    history: int
    action_low: list[float]
    action_high: list[float]
    has_decoder: bool
    train_steps: int


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: Literal["ok"]
    models: int


class EncodeRequest(Strict):
    model: Model
    frames: Frames


class EncodeResponse(BaseModel):
    model: str
    latents: list[list[float]] = Field(description="[T, D]")


class RolloutRequest(Strict):
    model: Model
    frames: Frames = Field(description="start frames [T0, H, W, 3], T0 <= history")
    actions: Actions = Field(description=f"[H, A] {ACTIONS}", min_length=1)
    past_actions: Actions | None = Field(None, description="[T0 - 1, A] between the start frames (or blocks)")
    decode: bool = Field(False, description="also return imagined frames (needs a decoder)")
    frame_format: FrameFormat = "png"


class RolloutResponse(BaseModel):
    model: str
    latents: list[list[float]] = Field(description="[H, D] after each action")
    frames: PngFrames | RawFrames | None = Field(None, description="decoded latents, when decode is true")


class PlanRequest(Strict):
    model: Model
    frame: Frames = Field(description="the current frame, or the last T0 <= history frames, oldest first")
    past_actions: Actions | None = Field(None, description="[T0 - 1, A] between the frames (or blocks)")
    goal: Frames = Field(description="one goal frame, or several (reach any)")
    planner: PlannerSettings = Field(default_factory=PlannerSettings)  # type: ignore[valid-type]
    blocks: bool = Field(False, description="search each model step's frameskip env actions one by one")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the planner's sampling")
    init: Actions | None = Field(None, description="[horizon, A] warm start ([horizon, k * A] with blocks)")
    metric: Metric = "latent"
    metric_shrink: MetricShrink = 0.1
    decode: bool = Field(False, description="also return the imagined frames of the plan (needs a decoder)")
    frame_format: FrameFormat = "png"


class PlanResponse(BaseModel):
    model: str
    actions: list[list[float]] = Field(description="[H, A] env actions held frameskip env steps; [H, k * A] blocks")
    blocks: bool
    context: int = Field(description="frames the plan started from")
    metric: str = Field(description="the latent metric the energy was measured in")
    energy: float
    energy_per_iteration: list[float]
    plan_ms: float = Field(description="wall time of the search, milliseconds")
    latents: list[list[float]] = Field(description="[H, D] imagined rollout of the actions")
    frames: PngFrames | RawFrames | None = None
    planner: dict[str, Any] = Field(description="the planner settings used, defaults filled in")


class SurpriseRequest(Strict):
    model: Model
    frames: Frames = Field(description="[T + 1, H, W, 3], one per model step")
    actions: Actions = Field(description=f"[T, A] between the frames: {ACTIONS}", min_length=1)


class SurpriseResponse(BaseModel):
    model: str
    surprise: list[float] = Field(description="[T] latent prediction error of each next frame")


# --- the viewer's episodes: a live env on the server, planned and stepped from the page ----------
class EpisodeRequest(Strict):
    model: Model
    seed: int = Field(0, ge=0, lt=1_000_000, description="held-out start/goal pair i (as `jepaworld eval --seed 0`)")
    max_steps: int = Field(200, ge=1, le=2000, description="env step budget")


class EpisodePlanRequest(Strict):
    planner: PlannerSettings = Field(default_factory=PlannerSettings)  # type: ignore[valid-type]
    context: int = Field(1, ge=1, description="plan from the last N frames seen (at most the model's history)")
    blocks: bool = Field(False, description="search each model step's frameskip env actions one by one")
    metric: Metric = "latent"
    metric_shrink: MetricShrink = 0.1


class EpisodePlan(BaseModel):
    actions: list[list[float]]
    blocks: bool
    context: int
    metric: str
    energy: float
    energy_per_iteration: list[float]
    plan_ms: float
    imagined: PngFrames | None = Field(None, description="decoded imagined frames, when a decoder exists")
    planned_path: list[list[float]] | None = Field(None, description="true state the plan would reach, per step")


class EpisodeState(BaseModel):
    episode: str
    model: str
    seed: int
    step: int = Field(description="env steps taken")
    max_steps: int
    frame: PngFrames
    goal: PngFrames
    predicted: PngFrames | None = Field(None, description="what the model imagined `frame` would be (decoder)")
    state: list[float] | None
    goal_state: list[float] | None
    executed_path: list[list[float]] = Field(description="true state after each model step")
    surprise: list[float] = Field(description="per whole model step: how unexpected the observed frame was")
    success: bool
    done: bool
    plan: EpisodePlan | None = None

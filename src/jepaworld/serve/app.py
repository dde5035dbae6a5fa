"""The FastAPI application: the public API over HTTP, and the web viewer's page and episodes.

Every route is a thin layer: decode the request, call ``LoadedWorldModel``, encode the answer. Bad
input answers 4xx with what was expected (400 for values, 422 for the schema, 401, 404, 413); routes
are plain functions, run in the server's thread pool, so one slow plan never blocks the others.
"""

from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from jepaworld import __version__
from jepaworld.api import LoadedWorldModel
from jepaworld.eval.agents import MetricDataMissing
from jepaworld.planning import PlannerConfig
from jepaworld.serve import schemas as s
from jepaworld.serve.config import ServeConfig
from jepaworld.serve.episodes import Episode, EpisodeStore, state_list
from jepaworld.serve.frames import decode_frames, encode_frames, png_frames
from jepaworld.serve.limits import BodySizeLimit

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.Error, "description": text}
    for code, text in (
        (400, "a value is wrong: what was expected and what came"),
        (401, "missing or wrong bearer token"),
        (404, "unknown model or episode"),
        (413, "request body over the server's limit"),
    )
}


class BadRequest(HTTPException):
    def __init__(self, error: Exception) -> None:
        super().__init__(400, str(error.args[0] if error.args else error))


def create_app(
    models: dict[str, LoadedWorldModel],
    config: ServeConfig,
    token: str = "",
    torch_thread: ThreadPoolExecutor | None = None,
) -> FastAPI:
    """The application serving ``models`` by name; ``token``: the bearer token /v1 calls need (empty: none).

    ``torch_thread``: the one thread every model call runs on (best the thread that loaded the models).
    With PyTorch's OpenMP backend, ops called from a second thread after the first has used torch run
    at about half speed on this 2-core CPU (measured: 60 ms plans on one thread, 150 ms from another),
    so requests, decoded in the server's thread pool, hand their model work to this one thread.
    """
    torch_thread = torch_thread or ThreadPoolExecutor(1, thread_name_prefix="torch")

    def on_torch(fn, *args, **kwargs):
        """``fn`` on the torch thread; its ``ValueError`` (the API's bad-input error) becomes a 400."""
        try:
            return torch_thread.submit(fn, *args, **kwargs).result()
        except MetricDataMissing as error:  # a client cannot give the server a file: say what the server needs
            raise BadRequest(
                ValueError(
                    f"the steps metric is measured on the episodes the model was trained on, and {error.where} is "
                    "not a file on this server: put it back there, or plan with metric 'latent'"
                )
            ) from error
        except ValueError as error:
            raise BadRequest(error) from error

    app = FastAPI(
        title="jepaworld",
        version=__version__,
        description="A world model over HTTP: encode frames, imagine rollouts, plan to a goal, measure surprise.",
    )
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    episodes = EpisodeStore(config.max_episodes)
    bearer = HTTPBearer(auto_error=False)

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if token and (credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode())):
            raise HTTPException(
                401,
                "expected the header 'Authorization: Bearer TOKEN' with this server's token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def model_named(name: str) -> LoadedWorldModel:
        if name not in models:
            raise HTTPException(404, f"unknown model {name!r}; this server has {sorted(models)}")
        return models[name]

    def frames_of(model: LoadedWorldModel, frames, name: str) -> np.ndarray:
        try:
            return decode_frames(frames, name, model.image_size)
        except ValueError as error:
            raise BadRequest(error) from error

    def planner_config(settings) -> PlannerConfig:
        try:
            config_ = PlannerConfig(**settings.model_dump(exclude_none=True))
        except ValueError as error:
            raise BadRequest(error) from error
        rollouts = config_.samples * config_.iterations * config_.horizon
        if rollouts > config.max_plan_rollouts:
            raise HTTPException(
                400,
                f"planner budget samples x iterations x horizon = {config_.samples} x {config_.iterations} x "
                f"{config_.horizon} = {rollouts} latent steps; this server allows at most {config.max_plan_rollouts} "
                "(serve --max-plan-rollouts)",
            )
        return config_

    v1 = {"dependencies": [Depends(authorised)], "responses": ERRORS}

    @app.get("/healthz", response_model=s.Health)
    def healthz() -> s.Health:
        return s.Health(status="ok", models=len(models))

    @app.get("/v1/models", response_model=s.ModelsResponse, **v1)
    def list_models() -> s.ModelsResponse:
        return s.ModelsResponse(models=[s.ModelInfo(name=n, **_facts(m)) for n, m in models.items()])

    @app.post("/v1/encode", response_model=s.EncodeResponse, **v1)
    def encode(request: s.EncodeRequest) -> s.EncodeResponse:
        model = model_named(request.model)
        frames = frames_of(model, request.frames, "frames")
        return s.EncodeResponse(model=request.model, latents=on_torch(model.encode, frames).tolist())

    @app.post("/v1/rollout", response_model=s.RolloutResponse, **v1)
    def rollout(request: s.RolloutRequest) -> s.RolloutResponse:
        model = model_named(request.model)
        frames = frames_of(model, request.frames, "frames")
        latents = on_torch(model.rollout, frames, request.actions, request.past_actions)
        pictures = on_torch(model.decode, latents) if request.decode else None
        out = None if pictures is None else encode_frames(pictures, request.frame_format)
        return s.RolloutResponse(model=request.model, latents=latents.tolist(), frames=out)

    @app.post("/v1/plan", response_model=s.PlanResponse, **v1)
    def plan(request: s.PlanRequest) -> s.PlanResponse:
        model = model_named(request.model)
        frame = frames_of(model, request.frame, "frame")
        goal = frames_of(model, request.goal, "goal")
        config_ = planner_config(request.planner)
        if request.decode:
            on_torch(model.require_decoder)  # before minutes of planning, not after
        options = {"seed": request.seed, "init": request.init, "past_actions": request.past_actions}
        options |= {"blocks": request.blocks, "metric": request.metric, "metric_shrink": request.metric_shrink}
        result = on_torch(model.plan, frame, goal, config_, **options)
        out = encode_frames(on_torch(model.decode, result.latents), request.frame_format) if request.decode else None
        return s.PlanResponse(
            model=request.model,
            actions=result.actions.tolist(),
            blocks=result.blocks,
            context=result.context,
            metric=result.metric,
            energy=result.energy,
            energy_per_iteration=result.energy_per_iteration,
            plan_ms=1000 * result.plan_seconds,
            latents=result.latents.tolist(),
            frames=out,
            planner=result.planner,
        )

    @app.post("/v1/surprise", response_model=s.SurpriseResponse, **v1)
    def surprise(request: s.SurpriseRequest) -> s.SurpriseResponse:
        model = model_named(request.model)
        frames = frames_of(model, request.frames, "frames")
        values = on_torch(model.surprise, frames, request.actions)
        return s.SurpriseResponse(model=request.model, surprise=values.tolist())

    # --- the viewer ------------------------------------------------------------------------------
    def episode_named(episode_id: str) -> Episode:
        try:
            return episodes.get(episode_id)
        except KeyError as error:
            raise HTTPException(404, error.args[0]) from error

    @app.post("/v1/episodes", response_model=s.EpisodeState, **v1)
    def new_episode(request: s.EpisodeRequest) -> s.EpisodeState:
        model = model_named(request.model)
        try:
            episode = Episode(request.model, model, request.seed, request.max_steps)
        except ValueError as error:
            raise BadRequest(error) from error
        episodes.add(episode)
        return on_torch(_state, episode)

    @app.post("/v1/episodes/{episode_id}/plan", response_model=s.EpisodeState, **v1)
    def plan_episode(episode_id: str, request: s.EpisodePlanRequest) -> s.EpisodeState:
        episode = episode_named(episode_id)
        config_ = planner_config(request.planner)
        with episode.lock:
            on_torch(episode.replan, config_, request.context, request.blocks, request.metric, request.metric_shrink)
            return on_torch(_state, episode)

    @app.post("/v1/episodes/{episode_id}/step", response_model=s.EpisodeState, **v1)
    def step_episode(episode_id: str) -> s.EpisodeState:
        episode = episode_named(episode_id)
        with episode.lock:
            on_torch(episode.step)
            return on_torch(_state, episode)

    @app.delete("/v1/episodes/{episode_id}", status_code=204, **v1)
    def delete_episode(episode_id: str) -> None:
        episode_named(episode_id)
        episodes.remove(episode_id)

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        # Without the offending input: it may be NaN (not JSON) or megabytes of frame data.
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    static = resources.files("jepaworld.serve") / "static"

    @app.get("/", include_in_schema=False)
    def viewer() -> FileResponse:
        return FileResponse(str(static / "index.html"))

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    return app


def _facts(model: LoadedWorldModel) -> dict[str, Any]:
    facts = model.describe()
    return {k: facts[k] for k in s.ModelInfo.model_fields if k != "name"}


def _state(episode: Episode) -> s.EpisodeState:
    plan = None
    if episode.plan is not None:
        imagined = episode.imagined()
        plan = s.EpisodePlan(
            actions=episode.plan.actions.tolist(),
            blocks=episode.plan.blocks,
            context=episode.plan.context,
            metric=episode.plan.metric,
            energy=episode.plan.energy,
            energy_per_iteration=episode.plan.energy_per_iteration,
            plan_ms=1000 * episode.plan.plan_seconds,
            imagined=None if imagined is None else png_frames(imagined),
            planned_path=episode.planned_path(),
        )
    return s.EpisodeState(
        episode=episode.id,
        model=episode.name,
        seed=episode.seed,
        step=episode.step_count,
        max_steps=episode.max_steps,
        frame=png_frames(episode.frame[None]),
        goal=png_frames(episode.goal_frame[None]),
        predicted=None if episode.predicted is None else png_frames(episode.predicted[None]),
        state=state_list(episode.state),
        goal_state=state_list(episode.goal_state),
        executed_path=episode.path,
        surprise=episode.surprise,
        success=episode.success,
        done=episode.done,
        plan=plan,
    )

"""The HTTP service, started for real on a loopback port: every endpoint, the client, and bad input."""

from __future__ import annotations

import base64
import io
import json
import threading

import httpx
import numpy as np
import pytest
from PIL import Image

import jepaworld
from jepaworld.cli.main import main
from jepaworld.client import Client, ClientError, raw
from jepaworld.data import make_env
from jepaworld.serve.config import parse_checkpoints
from tests.serve_fixtures import TOKEN, snapshot

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def world(served_checkpoint):
    """The same model in-process, and a start frame and goal frame from a held-out reset."""
    env = make_env("jepaworld/TwoRoom-v0")
    frame, _ = env.reset(seed=2**31 + 7)
    goal = env.unwrapped.goal_observation()
    env.close()
    return jepaworld.load(served_checkpoint), frame, goal


@pytest.fixture()
def client(server):
    with Client(server, token=TOKEN) as c:
        yield c


def png(frame: np.ndarray, mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.fromarray(frame).convert(mode).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def post(url: str, path: str, body, **kwargs) -> httpx.Response:
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {**AUTH, "Content-Type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(f"{url}{path}", content=content, headers=headers, timeout=60, **kwargs)


def test_health_and_models(server, client, world):
    wm, _, _ = world
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok", "models": 1}
    (info,) = client.models()
    assert info["name"] == "tiny" and info["env_id"] == "jepaworld/TwoRoom-v0"
    assert info["latent_dim"] == wm.latent_dim and info["action_low"] == [-1.0, -1.0] and info["has_decoder"]


def test_encode_matches_the_python_api_in_both_frame_formats(server, client, world):
    wm, frame, goal = world
    frames = np.stack([frame, goal])
    z = client.encode("tiny", frames)
    assert z.shape == (2, wm.latent_dim)
    np.testing.assert_allclose(z, wm.encode(frames), atol=1e-5)
    body = {"model": "tiny", "frames": {"format": "png", "data": [png(frame), png(goal)]}}
    z_png = np.asarray(post(server, "/v1/encode", body).json()["latents"])
    np.testing.assert_allclose(z_png, z, atol=1e-5)  # PNG is lossless


def test_plan_rollout_and_surprise(client, world):
    wm, frame, goal = world
    plan = client.plan("tiny", frame, goal, planner={"samples": 40, "iterations": 3, "horizon": 6}, decode=True)
    assert plan["actions"].shape == (6, 2) and np.all(np.abs(plan["actions"]) <= 1)
    assert len(plan["energy_per_iteration"]) == 3 and plan["energy"] == pytest.approx(min(plan["energy_per_iteration"]))
    assert plan["plan_ms"] > 0 and plan["planner"]["samples"] == 40 and plan["planner"]["planner"] == "icem"
    assert plan["frames"].shape == (6, 64, 64, 3) and plan["frames"].dtype == np.uint8
    local = wm.plan(frame, goal, plan_config(samples=40, iterations=3, horizon=6))  # same seed, same answer
    np.testing.assert_allclose(plan["actions"], local.actions, atol=1e-5)

    out = client.rollout("tiny", frame, plan["actions"], decode=True)
    assert out["latents"].shape == (6, wm.latent_dim) and out["frames"].shape == (6, 64, 64, 3)
    np.testing.assert_allclose(out["latents"], wm.rollout(frame, plan["actions"]), atol=1e-5)

    frames = np.stack([frame, frame, goal])
    s = client.surprise("tiny", frames, plan["actions"][:2])
    assert s.shape == (2,) and np.all(s >= 0)
    np.testing.assert_allclose(s, wm.surprise(frames, plan["actions"][:2]), rtol=1e-5)


def plan_config(**fields):
    from jepaworld.planning import PlannerConfig

    return PlannerConfig(**fields)


def test_a_goal_set_and_a_warm_start(client, world):
    _, frame, goal = world
    init = np.zeros((8, 2))
    plan = client.plan("tiny", frame, np.stack([goal, frame]), planner={"samples": 20, "iterations": 2}, init=init)
    assert plan["actions"].shape == (8, 2)


def test_a_plan_of_blocks_from_a_history(client, world):
    """Blocks of frameskip env actions and a two-frame start, over the wire as in the Python API."""
    wm, frame, goal = world
    history, between = np.stack([goal, frame]), np.array([[0.5, -0.5]])
    planner = {"samples": 20, "iterations": 2, "horizon": 4}
    plan = client.plan("tiny", history, goal, planner=planner, past_actions=between, blocks=True)
    assert plan["actions"].shape == (4, 4) and plan["blocks"] and plan["context"] == 2
    local = wm.plan(history, goal, plan_config(**planner), past_actions=between, blocks=True)
    np.testing.assert_allclose(plan["actions"], local.actions, atol=1e-5)
    np.testing.assert_allclose(plan["latents"], local.latents, atol=1e-5)
    out = client.rollout("tiny", history, plan["actions"], past_actions=between)
    np.testing.assert_allclose(out["latents"], wm.rollout(history, local.actions, past_actions=between), atol=1e-5)


def test_a_plan_in_the_steps_metric(client, world):
    """``metric: steps`` over the wire: measured on the model's training data, the same plan as in Python."""
    wm, frame, goal = world
    planner = {"samples": 20, "iterations": 2, "horizon": 4}
    plan = client.plan("tiny", frame, goal, planner=planner, metric="steps", metric_shrink=0.2)
    local = wm.plan(frame, goal, plan_config(**planner), metric="steps", metric_shrink=0.2)
    assert plan["metric"] == "steps" and plan["energy"] == pytest.approx(local.energy, rel=1e-4)
    np.testing.assert_allclose(plan["actions"], local.actions, atol=1e-5)
    np.testing.assert_allclose(plan["latents"], local.latents, atol=1e-5)
    assert client.plan("tiny", frame, goal, planner=planner)["metric"] == "latent"


def test_the_steps_metric_of_a_model_whose_data_moved_says_what_the_server_needs(served_checkpoint, tmp_path):
    """Over HTTP nobody can hand the server a file: a 400 names the missing one; put back, it plans."""
    import shutil

    from jepaworld.serve.launch import start_server, stop_server

    checkpoint = tmp_path / "moved"
    shutil.copytree(served_checkpoint, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    data, gone = config["extra"]["data"], tmp_path / "gone" / "tiny.h5"
    (checkpoint / "config.json").write_text(json.dumps(config).replace(json.dumps(data), json.dumps(str(gone))))
    process, url = start_server([f"moved={checkpoint}"])
    try:
        body = {"model": "moved", "frame": raw(FRAME), "goal": raw(FRAME), "planner": {"samples": 10, "iterations": 1}}
        response = post(url, "/v1/plan", {**body, "metric": "steps"})
        assert response.status_code == 400, response.text
        assert f"{gone}) is not a file on this server: put it back there, or plan with metric 'latent'" in response.text
        assert post(url, "/v1/plan", body).json()["metric"] == "latent"
        gone.parent.mkdir()
        shutil.copy(data, gone)
        assert post(url, "/v1/plan", {**body, "metric": "steps"}).json()["metric"] == "steps"
    finally:
        stop_server(process)


def test_a_token_is_required_and_checked(server):
    body = {"model": "tiny", "frames": raw(np.zeros((1, 64, 64, 3), np.uint8))}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.post(f"{server}/v1/encode", json=body, headers=headers)
        assert response.status_code == 401 and "Bearer" in response.json()["detail"]
    assert httpx.get(f"{server}/v1/models").status_code == 401
    assert httpx.get(f"{server}/healthz").status_code == 200  # liveness needs no token


FRAME = np.zeros((1, 64, 64, 3), np.uint8)
GOOD_PLAN = {"model": "tiny", "frame": raw(FRAME), "goal": raw(FRAME)}


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/v1/encode", '{"model": "tiny", "frames": ', 422, "JSON"),
        ("/v1/encode", {"model": "tiny", "frames": raw(np.zeros((1, 32, 32, 3), np.uint8))}, 400, "[T, 64, 64, 3]"),
        ("/v1/encode", {"model": "tiny", "frames": {**raw(FRAME), "dtype": "float32"}}, 422, "uint8"),
        ("/v1/encode", {"model": "tiny", "frames": {**raw(FRAME), "data": "AAAA"}}, 400, "12288 bytes"),
        (
            "/v1/encode",
            {"model": "tiny", "frames": {"format": "png", "data": [base64.b64encode(b"not a png").decode()]}},
            400,
            "PNG",
        ),
        ("/v1/encode", {"model": "tiny", "frames": {"format": "png", "data": ["%%%"]}}, 400, "base64"),
        ("/v1/encode", {"model": "tiny", "frames": {"format": "png", "data": [png(FRAME[0], "L")]}}, 400, "mode RGB"),
        ("/v1/encode", {"model": "nope", "frames": raw(FRAME)}, 404, "unknown model 'nope'"),
        (
            "/v1/rollout",
            '{"model": "tiny", "frames": ' + json.dumps(raw(FRAME)) + ', "actions": [[NaN, 0]]}',
            422,
            "finite",
        ),
        (
            "/v1/rollout",
            '{"model": "tiny", "frames": ' + json.dumps(raw(FRAME)) + ', "actions": [[Infinity, 0]]}',
            422,
            "finite",
        ),
        ("/v1/rollout", {"model": "tiny", "frames": raw(FRAME), "actions": [[3.0, 0.0]]}, 400, "must lie in"),
        ("/v1/rollout", {"model": "tiny", "frames": raw(FRAME), "actions": [[0.0, 0.0, 0.0]]}, 400, "[H, 2]"),
        ("/v1/plan", {**GOOD_PLAN, "planner": {"samples": 1000, "iterations": 100}}, 400, "at most 20000"),
        ("/v1/plan", {**GOOD_PLAN, "planner": {"planner": "simplex"}}, 400, "planner must be one of"),
        ("/v1/plan", {**GOOD_PLAN, "planner": {"samples": 0}}, 400, "samples must be >= 1"),
        ("/v1/plan", {**GOOD_PLAN, "planner": {"smaples": 10}}, 422, "smaples"),
        ("/v1/plan", {**GOOD_PLAN, "init": [[0.0, 0.0]]}, 400, "init"),
        ("/v1/plan", {**GOOD_PLAN, "metric": "cosine"}, 422, "'latent' or 'steps'"),
        ("/v1/plan", {**GOOD_PLAN, "metric": "steps", "metric_shrink": 0}, 422, "greater than 0"),
        ("/v1/plan", {**GOOD_PLAN, "init": [[0.0, 0.0]] * 8, "blocks": True}, 400, "[8, 4] (a block"),
        ("/v1/plan", {**GOOD_PLAN, "frame": raw(np.concatenate([FRAME, FRAME]))}, 400, "past_actions: 2 start"),
        ("/v1/surprise", {"model": "tiny", "frames": raw(FRAME), "actions": [[0.0, 0.0]]}, 400, "at least 2 frames"),
        ("/v1/episodes", {"model": "tiny", "seed": -1}, 422, "greater than or equal"),
        ("/v1/episodes/0123/step", {}, 404, "no live episode"),
    ],
)
def test_bad_input_answers_4xx_with_what_was_expected(server, path, body, status, says):
    response = post(server, path, body)
    assert response.status_code == status, response.text
    assert says in json.dumps(response.json()), response.text


def test_bodies_over_the_limit_are_refused_declared_or_streamed(server):
    big = b'{"model": "tiny", "frames": "' + b"A" * (2 * 2**20) + b'"}'
    response = post(server, "/v1/encode", big)
    assert response.status_code == 413 and "at most 1048576 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    response = httpx.post(f"{server}/v1/encode", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413


def test_bad_clients_do_not_stop_good_ones_and_nothing_is_written(server, served_checkpoint, world):
    _, frame, goal = world
    before = snapshot(served_checkpoint.parent.parent)
    errors: list[str] = []

    def bad_client():
        for _ in range(10):
            response = post(server, "/v1/rollout", {"model": "tiny", "frames": raw(FRAME), "actions": [[9.0, 0.0]]})
            if response.status_code != 400:
                errors.append(response.text)

    threads = [threading.Thread(target=bad_client) for _ in range(3)]
    for t in threads:
        t.start()
    with Client(server, token=TOKEN) as good:
        for _ in range(5):
            assert good.plan("tiny", frame, goal, planner={"samples": 20, "iterations": 2})["actions"].shape == (8, 2)
    for t in threads:
        t.join()
    assert not errors
    assert snapshot(served_checkpoint.parent.parent) == before


def test_client_errors_carry_the_servers_message(client):
    with pytest.raises(ClientError) as caught:
        client.encode("nope", FRAME)
    assert caught.value.status == 404 and "unknown model" in str(caught.value)
    with pytest.raises(ValueError, match="uint8"):
        client.encode("tiny", FRAME.astype(np.float32))


def test_viewer_episodes_plan_step_and_delete(server):
    headers = AUTH
    state = post(server, "/v1/episodes", {"model": "tiny", "seed": 3, "max_steps": 12}).json()
    assert state["step"] == 0 and state["plan"] is None and len(state["state"]) == 2
    eid = state["episode"]
    state = post(server, f"/v1/episodes/{eid}/plan", {"planner": {"samples": 20, "iterations": 2}}).json()
    plan = state["plan"]
    assert len(plan["imagined"]["data"]) == 8 and len(plan["planned_path"]) == 8
    while not state["done"]:
        state = post(server, f"/v1/episodes/{eid}/step", {}).json()
        assert len(state["predicted"]["data"]) == 1  # the decoder's picture of what the model expected
    steps = len(state["executed_path"]) - 1  # model steps taken; the last may be cut short by success
    assert state["step"] <= 12 and steps >= 1 and steps - 1 <= len(state["surprise"]) <= steps
    response = post(server, f"/v1/episodes/{eid}/step", {})
    assert response.status_code == 400 and "over" in response.json()["detail"]
    assert httpx.delete(f"{server}/v1/episodes/{eid}", headers=headers).status_code == 204
    assert httpx.delete(f"{server}/v1/episodes/{eid}", headers=headers).status_code == 404


def test_viewer_episodes_plan_blocks_from_a_history(server):
    """An episode planned as `eval --plan-context 2 --plan-blocks --metric steps`: the settings hold for the re-plans,
    and a step executes the block's env actions in turn (the true simulator under the plan agrees)."""
    state = post(server, "/v1/episodes", {"model": "tiny", "seed": 4, "max_steps": 12}).json()
    eid = state["episode"]
    response = post(server, f"/v1/episodes/{eid}/plan", {"context": 3})
    assert response.status_code == 400 and "context: expected 1 to the model's history (2)" in response.text
    body = {"planner": {"samples": 20, "iterations": 2, "horizon": 4}, "context": 2, "blocks": True, "metric": "steps"}
    plan = post(server, f"/v1/episodes/{eid}/plan", body).json()["plan"]
    assert plan["blocks"] and plan["context"] == 1 and np.shape(plan["actions"]) == (4, 4)  # one frame seen yet
    assert plan["metric"] == "steps"
    state = post(server, f"/v1/episodes/{eid}/step", {}).json()
    if not state["done"]:
        np.testing.assert_allclose(state["executed_path"][1], plan["planned_path"][0], atol=1e-6)
        replanned = state["plan"]  # the episode's settings hold: from the two frames seen now
        assert replanned["blocks"] and replanned["context"] == 2 and np.shape(replanned["actions"]) == (4, 4)
        assert replanned["metric"] == "steps"
        state = post(server, f"/v1/episodes/{eid}/step", {}).json()
        assert len(state["surprise"]) >= 1
    assert httpx.delete(f"{server}/v1/episodes/{eid}", headers=AUTH).status_code == 204


def test_the_viewer_page_and_its_files_are_served_without_a_cdn(server):
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and "/static/viewer.js" in page.text
    script = httpx.get(f"{server}/static/viewer.js").text
    for text in (page.text, script):
        assert "https://" not in text and "http://" not in text


def test_serve_refuses_a_public_address_without_a_token(served_checkpoint, capsys, monkeypatch):
    monkeypatch.delenv("JEPAWORLD_TOKEN", raising=False)
    assert main(["serve", str(served_checkpoint), "--host", "0.0.0.0"]) == 2
    assert "without a token" in capsys.readouterr().err


def test_checkpoint_names():
    assert parse_checkpoints(("a=runs/x", "runs/demo/run", "runs/other/checkpoints/step_0000100")) == {
        "a": "runs/x",
        "demo": "runs/demo/run",
        "other": "runs/other/checkpoints/step_0000100",
    }
    with pytest.raises(ValueError, match="named 'a'"):
        parse_checkpoints(("a=x", "a=y"))


def test_the_documented_example_script_runs(served_checkpoint):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "use_a_world_model.py"
    done = subprocess.run([sys.executable, str(script), str(served_checkpoint)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "plan over HTTP" in done.stdout and "encode over HTTP matches the API: True" in done.stdout

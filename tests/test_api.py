"""The public Python API (``jepaworld.load``) and the decoder fitted to frozen latents."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

import jepaworld
from jepaworld.cli.main import main
from jepaworld.data import make_env
from jepaworld.planning import PlannerConfig
from jepaworld.train.decoder import DecoderConfig, train_decoder
from tests.serve_fixtures import snapshot


@pytest.fixture(scope="module")
def wm(served_checkpoint):
    return jepaworld.load(served_checkpoint)


@pytest.fixture(scope="module")
def frames():
    env = make_env("jepaworld/TwoRoom-v0")
    frame, _ = env.reset(seed=2**31 + 11)
    goal = env.unwrapped.goal_observation()
    env.close()
    return frame, goal


def test_encode_plan_rollout_surprise_shapes_and_agreement(wm, frames):
    frame, goal = frames
    assert wm.encode(frame).shape == (1, wm.latent_dim)
    plan = wm.plan(frame, goal, PlannerConfig(samples=30, iterations=2, horizon=5), seed=3)
    assert plan.actions.shape == (5, 2) and plan.latents.shape == (5, wm.latent_dim)
    np.testing.assert_allclose(wm.rollout(frame, plan.actions, context=1), plan.latents, atol=1e-5)
    again = wm.plan(frame, goal, PlannerConfig(samples=30, iterations=2, horizon=5), seed=3)
    np.testing.assert_array_equal(again.actions, plan.actions)  # seeded: reproducible
    assert wm.surprise(np.stack([frame, goal, frame]), plan.actions[:2]).shape == (2,)
    history = np.stack([frame, frame])  # a two-frame start needs the action between the frames
    assert wm.rollout(history, plan.actions, past_actions=plan.actions[:1]).shape == (5, wm.latent_dim)


def test_a_plan_of_blocks_from_a_history_imagines_what_rollout_does(wm, frames):
    """``blocks``: each model step's env actions searched one by one; a history start: the plan imagines
    from the frames before the current one too, and ``rollout`` with the same start reproduces it."""
    frame, goal = frames
    config = PlannerConfig(samples=30, iterations=2, horizon=5)
    plan = wm.plan(frame, goal, config, seed=3, blocks=True)
    assert plan.actions.shape == (5, 4) and plan.blocks and plan.context == 1
    assert np.all(np.abs(plan.actions) <= 1.0 + 1e-6)
    np.testing.assert_allclose(wm.rollout(frame, plan.actions, context=1), plan.latents, atol=1e-5)
    # A block of one action repeated is the held action.
    held = plan.actions[:, :2]
    np.testing.assert_allclose(wm.rollout(frame, held), wm.rollout(frame, np.tile(held, 2)), atol=1e-6)

    history, between = np.stack([goal, frame]), np.array([[0.5, -0.5]], np.float32)
    after = wm.plan(history, goal, config, seed=3, past_actions=between, init=plan.actions, blocks=True)
    assert after.context == 2 and after.actions.shape == (5, 4)
    imagined = wm.rollout(history, after.actions, past_actions=between, context=2)
    np.testing.assert_allclose(imagined, after.latents, atol=1e-5)
    # The history is seen: the same actions from the current frame alone imagine another future.
    assert np.abs(wm.rollout(frame, after.actions, context=1) - after.latents).max() > 1e-3


def test_a_plan_in_the_steps_metric_measures_energy_there_and_imagines_in_the_models_latents(wm, frames):
    """``metric="steps"``: measured once on the training data and kept; the energy is the min-over-horizon
    distance in the coordinates ``z @ W``; ``Plan.latents`` are the model's own, as ``rollout`` gives them."""
    frame, goal = frames
    config = PlannerConfig(samples=30, iterations=2, horizon=5)
    plan = wm.plan(frame, goal, config, seed=3, metric="steps")
    w = wm.metric_whitening("steps")
    assert plan.metric == "steps" and w is wm.metric_whitening("steps") and w.shape == (wm.latent_dim,) * 2
    np.testing.assert_allclose(wm.rollout(frame, plan.actions, context=1), plan.latents, atol=1e-5)
    w = w.numpy()
    in_metric = ((plan.latents @ w - wm.encode(goal)[0] @ w) ** 2).mean(-1).min()
    assert plan.energy == pytest.approx(float(in_metric), rel=1e-4)
    latent = wm.plan(frame, goal, config, seed=3)
    assert latent.metric == "latent" and wm.metric_whitening("latent") is None
    assert latent.energy == pytest.approx(float(((latent.latents - wm.encode(goal)[0]) ** 2).mean(-1).min()), rel=1e-4)
    fully = wm.metric_whitening("steps", shrink=1.0).numpy()  # no shrink left: the latent metric
    np.testing.assert_allclose(fully, np.eye(wm.latent_dim), atol=1e-4)


def test_surprise_is_higher_for_a_frame_that_does_not_follow(wm, frames):
    """Staying put with a zero action is expected; a teleport to the goal frame is not."""
    frame, goal = frames
    still = np.zeros((2, 2), np.float32)
    expected = wm.surprise(np.stack([frame, frame, frame]), still)[-1]
    teleport = wm.surprise(np.stack([frame, frame, goal]), still)[-1]
    assert teleport > 2 * expected


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda wm, f: wm.encode(f.astype(np.float32)), "uint8"),
        (lambda wm, f: wm.encode(f[:32]), "[T, 64, 64, 3]"),
        (lambda wm, f: wm.plan(f[None, :32], f), "frame: expected uint8 RGB frames [T, 64, 64, 3]"),
        (lambda wm, f: wm.plan(np.stack([f] * 3), f), "frame: one frame, or at most history=2"),
        (lambda wm, f: wm.plan(np.stack([f, f]), f), "past_actions: 2 start frames need the actions between"),
        (lambda wm, f: wm.plan(f, f, init=np.zeros((8, 2)), blocks=True), "[8, 4] (a block per model step"),
        (lambda wm, f: wm.rollout(f, [[2.0, 0.0]]), "must lie in"),
        (lambda wm, f: wm.rollout(f, [[np.nan, 0.0]]), "finite"),
        (lambda wm, f: wm.rollout(f, [[0.0, 0.0, 0.0]]), "[H, 2] (one env action per model step"),
        (lambda wm, f: wm.rollout(f, [[0.0, 0.0, 0.0]]), "or [H, 4] (a block per model step"),
        (lambda wm, f: wm.rollout(f, [[0.0, 0.0, 0.0, 2.0]]), "row 0 is"),
        (lambda wm, f: wm.rollout(np.stack([f, f]), [[0.0, 0.0]]), "past_actions"),
        (lambda wm, f: wm.rollout(np.stack([f] * 3), [[0.0, 0.0]]), "at most history=2"),
        (lambda wm, f: wm.surprise(f, []), "at least 2 frames"),
        (lambda wm, f: wm.surprise(np.stack([f, f]), np.zeros((2, 2))), "[1, 2]"),
        (lambda wm, f: wm.plan(f, f, init=np.zeros((3, 2))), "init"),
        (lambda wm, f: wm.decode(np.zeros((1, 5))), "latents [N, 16]"),
        (lambda wm, f: wm.plan(f, f, metric="cosine"), "metric must be one of ['latent', 'steps']"),
        (lambda wm, f: wm.plan(f, f, metric="steps", metric_shrink=0), "metric_shrink must be in (0, 1]"),
        (lambda wm, f: wm.plan(f, f, metric="steps", metric_data="gone.h5"), "the metric data gone.h5 is not a file"),
    ],
)
def test_bad_input_says_what_was_expected(wm, frames, call, says):
    with pytest.raises(ValueError) as caught:
        call(wm, frames[0])
    assert says in str(caught.value)


def test_decoder_is_loaded_and_decodes_to_frames(wm, frames):
    assert wm.describe()["has_decoder"]
    pictures = wm.decode(wm.encode(np.stack(frames)))
    assert pictures.shape == (2, 64, 64, 3) and pictures.dtype == np.uint8


def test_decoder_training_leaves_the_world_model_untouched_and_refuses_other_weights(served_checkpoint, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(served_checkpoint, run)
    shutil.rmtree(run / "decoder")
    with pytest.raises(ValueError, match="train-decoder"):
        jepaworld.load(run).decode(np.zeros((1, 16)))
    before = snapshot(run)
    summary = train_decoder(DecoderConfig(checkpoint=str(run), steps=5, width=4, max_frames=40, progress=False))
    after = snapshot(run)
    assert {k: v for k, v in after.items() if not k.startswith("decoder")} == before
    assert summary["held_out_psnr_db"] > 0 and (run / "decoder" / "config.json").exists()

    weights = load_file(run / "model.safetensors")  # other world-model weights beside the same decoder
    save_file({k: v + 0.01 if v.is_floating_point() else v for k, v in weights.items()}, run / "model.safetensors")
    with pytest.raises(ValueError, match="fitted to other world-model weights"):
        jepaworld.load(run)


def test_train_decoder_cli_errors(tmp_path, capsys):
    assert main(["train-decoder", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err

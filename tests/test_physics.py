"""The intuitive-physics suite: matched pairs, surprise on a case with a known answer, scoring, the demo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jepaworld.cli.main import main
from jepaworld.cli.physics import PhysicsDemoConfig, PhysicsEvalConfig, evaluate_checkpoint, run_physics_demo
from jepaworld.data import EpisodeFile
from jepaworld.data.videos import write_video
from jepaworld.envs import physics_suite
from jepaworld.eval.physics import VideoPair, load_pairs, score_pairs, world_model_surprise, write_pairs
from jepaworld.models import ModelConfig, build_world_model


@pytest.mark.parametrize("violation", physics_suite.VIOLATIONS)
def test_pairs_are_identical_before_the_event_and_differ_from_it(violation):
    for seed in range(6):
        pair = physics_suite.make_pair(violation, np.random.default_rng(seed))
        assert pair.possible.frames.shape == (physics_suite.FRAMES, 64, 64, 3)
        assert np.array_equal(pair.possible.frames[: pair.event], pair.impossible.frames[: pair.event])
        assert not np.array_equal(pair.possible.frames[pair.event], pair.impossible.frames[pair.event])
        assert 5 <= pair.event <= physics_suite.FRAMES - 3
        again = physics_suite.make_pair(violation, np.random.default_rng(seed))  # same seed, same videos
        assert np.array_equal(again.impossible.frames, pair.impossible.frames) and again.event == pair.event


def test_possible_clips_carry_the_ball_state():
    clip = physics_suite.make_possible("gravity", np.random.default_rng(0))
    assert clip.state.shape == (physics_suite.FRAMES, 4) and np.all(np.isfinite(clip.state))
    y, vy = clip.state[:, 1], clip.state[:, 3]
    assert np.all(y <= physics_suite.FLOOR_Y) and vy.max() > 0  # it falls and stays above the floor


def _identity_model() -> torch.nn.Module:
    """An action-free model whose predictor says 'nothing changes': surprise is then |z_{t+1} - z_t|^2."""
    model = build_world_model(ModelConfig(encoder_width=8, latent_dim=16, history=2, frameskip=1, env_action_dim=0))
    torch.nn.init.zeros_(model.predictor.head.weight)
    torch.nn.init.zeros_(model.predictor.head.bias)
    return model.eval()


def test_surprise_on_a_hand_built_case():
    model = _identity_model()
    video = np.zeros((6, 64, 64, 3), np.uint8)
    video[4:] = 200  # the scene changes between frames 3 and 4
    surprise = world_model_surprise(model)(video)
    obs = torch.from_numpy(video).permute(0, 3, 1, 2)[None]
    z = model.encode(obs)[0]
    assert surprise.shape == (5,)
    np.testing.assert_allclose(surprise[[0, 1, 2, 4]], 0.0, atol=1e-10)
    np.testing.assert_allclose(surprise[3], (z[4] - z[3]).pow(2).mean().item(), rtol=1e-5)
    with pytest.raises(ValueError, match="action-conditioned"):
        build_world_model(ModelConfig(latent_dim=16)).surprise(obs)


def test_scoring_counts_a_pair_right_when_the_impossible_video_is_more_surprising():
    still = np.zeros((8, 64, 64, 3), np.uint8)
    jump = still.copy()
    jump[5:, 20:30, 20:30] = 255
    pairs = [VideoPair("a", "continuity", still, jump, 5), VideoPair("b", "solidity", jump, still, 5)]
    results = score_pairs(world_model_surprise(_identity_model()), pairs)
    assert results["by_max"]["continuity"]["accuracy"] == 1.0 and results["by_max"]["solidity"]["accuracy"] == 0.0
    assert results["by_max"]["overall"]["accuracy"] == 0.5 and results["by_max"]["overall"]["pairs"] == 2
    low, high = results["by_max"]["overall"]["ci95"]
    assert 0 < low < 0.5 < high < 1


def test_pair_folders_with_and_without_a_manifest(tmp_path):
    write_pairs(tmp_path / "suite", pairs_per_type=1, seed=0, progress=False)
    pairs, skipped = load_pairs(tmp_path / "suite", size=64, fps=None)
    manifest = json.loads((tmp_path / "suite" / "pairs.json").read_text())["pairs"]
    assert not skipped and [p.violation for p in pairs] == sorted(e["violation"] for e in manifest)
    for pair in pairs:  # lossless videos: identical before the event, as generated
        assert np.array_equal(pair.possible[: pair.event], pair.impossible[: pair.event])

    own = tmp_path / "own"  # a user's folder: no manifest, one pair incomplete
    a = np.zeros((10, 64, 64, 3), np.uint8)
    b = a.copy()
    b[6:] = 90
    write_video(own / "ball_possible.mp4", a, 10)
    write_video(own / "ball_impossible.mp4", b, 10)
    write_video(own / "lonely_possible.mp4", a, 10)
    pairs, skipped = load_pairs(own, size=64, fps=None)
    assert [(p.name, p.violation, p.event) for p in pairs] == [("ball", "unlabelled", 6)]
    assert skipped[0]["name"] == "lonely" and "no lonely_impossible" in skipped[0]["reason"]


@pytest.mark.slow
def test_physics_demo_and_eval_end_to_end(tmp_path, tiny_data):
    config = PhysicsDemoConfig(
        out=str(tmp_path / "demo"),
        clips=20,
        pairs_per_type=2,
        train_steps=4,
        batch_size=8,
        baseline_steps=3,
        baseline_batch_size=4,
        device="cpu",
        progress=False,
    )
    results = run_physics_demo(config)
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert saved["pairwise_accuracy"] == results["world_model"]["by_max"]["overall"]["accuracy"]
    assert set(saved["world_model"]["by_max"]) == {*physics_suite.VIOLATIONS, "overall"}
    assert "pixel_baseline" in saved and saved["world_model"]["pairs"] == 10
    with EpisodeFile(tmp_path / "demo" / "clips.h5") as clips:
        assert clips.action_dim == 0 and clips.has_state and clips.num_episodes == 20

    code = main(
        [
            "physics",
            "eval",
            "--checkpoint",
            saved["checkpoint"],
            "--pairs",
            saved["pairs_dir"],
            "--out",
            str(tmp_path / "eval"),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    again = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert again["world_model"]["by_max"] == saved["world_model"]["by_max"]  # same model, same pairs, same score

    from jepaworld.train import TrainConfig, train
    from tests.conftest import TINY_MODEL

    run = train(
        TrainConfig(data=tiny_data, out=str(tmp_path / "acts"), steps=2, batch_size=8, progress=False), TINY_MODEL
    )
    with pytest.raises(ValueError, match="trained with actions of size 2"):
        evaluate_checkpoint(PhysicsEvalConfig(checkpoint=str(run), pairs=saved["pairs_dir"], out=str(tmp_path / "x")))

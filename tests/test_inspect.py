"""``jepaworld data inspect`` on files the tests write: healthy data, and data with each kind of problem."""

import json

import numpy as np
import pytest
from PIL import Image

from jepaworld.cli.main import main
from jepaworld.data import EpisodeWriter
from jepaworld.data.inspect import InspectConfig, inspect_episodes


def _write(path, episodes, state=True, action_dim=2):
    """``episodes``: a list of (frames [L, 8, 8, 3], actions [L - 1, A], state [L, 2])."""
    with EpisodeWriter(
        path,
        frame_shape=(8, 8, 3),
        action_dim=action_dim,
        state_dim=2 if state else 0,
        env_id="test/Handmade-v0",
        action_low=-np.ones(action_dim),
        action_high=np.ones(action_dim),
        seed=0,
        extra={"state_names": ["x", "y"]} if state else {},
    ) as writer:
        for i, (frames, actions, states) in enumerate(episodes):
            writer.add_episode(frames, actions, states if state else None, i)
    return path


def test_healthy_collected_data_has_no_warnings_but_the_tiny_count(tiny_data, tmp_path):
    report = inspect_episodes(InspectConfig(path=tiny_data, out=str(tmp_path)))
    assert report["episodes"] == 12 and report["frames"] == 12 * 31 and report["transitions"] == 12 * 30
    assert [row["name"] for row in report["actions"]] == ["a0", "a1"]
    assert all(0.3 < row["std"] < 1.0 and row["low"] == -1 and row["high"] == 1 for row in report["actions"])
    state = report["state"]
    assert [q["name"] for q in state["quantities"]] == ["agent_x", "agent_y"]
    assert 0 < state["occupancy"] <= 1 and state["axes"] == {"x": "agent_x", "y": "agent_y"}
    assert Image.open(state["picture"]).size == (256, 256)
    assert report["warnings"] == ["only 360 transitions (fewer than 2000): collect more episodes to learn from"]
    assert json.loads((tmp_path / "inspect.json").read_text())["frames"] == report["frames"]


def test_each_problem_gets_a_warning_that_says_why(tmp_path):
    rng = np.random.default_rng(0)
    still = np.zeros((20, 8, 8, 3), np.uint8)  # nothing ever moves
    constant = np.tile([0.5, 0.0], (19, 1)).astype(np.float32)  # a1 never varies, a0 barely
    corner = np.full((20, 2), 0.0) + rng.uniform(0, 0.01, (20, 2))
    corner[0], corner[1] = [0, 0], [1, 1]  # the range spans the square, the visits stay in one corner
    path = _write(tmp_path / "bad.h5", [(still, constant, corner), (still, constant, corner)])
    report = inspect_episodes(InspectConfig(path=str(path), out=str(tmp_path / "report"), grid=4))
    text = "\n".join(report["warnings"])
    assert report["frozen_frames"] == 38 and report["frozen_fraction"] == 1.0
    assert "100% of frames repeat the frame before" in text
    assert "1 episodes repeat an earlier one frame for frame" in text
    assert "action a1 barely varies" in text and "action a0 barely varies" in text
    assert report["state"]["occupancy"] == pytest.approx(2 / 16)
    assert "visits 12% of the state grid (under 30%): coverage is too thin" in text


def test_a_file_without_state_or_actions_reports_what_it_can(tmp_path, capsys):
    frames = np.random.default_rng(1).integers(0, 255, (10, 8, 8, 3), dtype=np.uint8)
    path = _write(tmp_path / "videos.h5", [(frames, np.zeros((9, 0), np.float32), None)], state=False, action_dim=0)
    assert main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 episodes, 10 frames [8, 8, 3]" in out and "no state column: coverage cannot be measured" in out
    assert (tmp_path / "videos.inspect" / "inspect.json").exists()


def test_inspecting_something_that_is_not_an_episode_file_is_a_clear_error(tmp_path, capsys):
    bogus = tmp_path / "notes.h5"
    bogus.write_text("hello")
    assert main(["data", "inspect", str(bogus)]) == 2
    assert "not an HDF5 file; expected a jepaworld episode file" in capsys.readouterr().err
    assert main(["data", "inspect", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5" in capsys.readouterr().err


def test_coverage_axes_must_name_two_state_quantities(tiny_data, tmp_path):
    with pytest.raises(ValueError, match=r"axes: give two state quantities \(x then y\), got \['agent_x'\]"):
        InspectConfig(path=tiny_data, axes=("agent_x",))
    with pytest.raises(ValueError, match=r"axes: expected two of the state quantities \['agent_x', 'agent_y'\]"):
        inspect_episodes(InspectConfig(path=tiny_data, out=str(tmp_path), axes=("agent_x", "speed")))

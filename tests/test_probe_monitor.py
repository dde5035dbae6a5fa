"""Probes (known linear maps, a real checkpoint) and the surprise monitor (a scripted disturbance, MPC)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jepaworld.cli.main import main
from jepaworld.data import CollectConfig, collect
from jepaworld.eval.monitor import MonitorConfig, run_monitor
from jepaworld.eval.probe import (
    ProbeConfig,
    angles_as_cos_sin,
    fit_linear,
    fit_mlp,
    probe,
    r2_scores,
    rms_errors,
    stack_frames,
)
from jepaworld.planning import PlannerConfig
from jepaworld.planning.monitor import SurpriseMonitor


def test_linear_probe_recovers_a_known_linear_map_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12))
    weights, bias = rng.normal(size=(12, 3)), np.array([5.0, -2.0, 0.5])
    y = x @ weights + bias
    y[:, 2] = rng.normal(size=600)  # a quantity the latents say nothing about
    predict = fit_linear(x[:400], y[:400], ridge=1e-6)
    r2 = r2_scores(predict(x[400:]), y[400:])
    assert r2[0] > 0.999 and r2[1] > 0.999 and r2[2] < 0.1


def test_rms_error_is_in_the_quantitys_own_units():
    target = np.array([[0.0, 100.0], [10.0, 200.0], [20.0, 300.0], [30.0, 400.0]])
    prediction = target + np.array([[3.0, -50.0], [-3.0, 50.0], [3.0, -50.0], [-3.0, 50.0]])
    assert np.allclose(rms_errors(prediction, target), [3.0, 50.0])
    # The same error is a different R^2 on a different spread; the RMS error says how precise the probe is.
    assert np.allclose(r2_scores(prediction, target), 1 - np.array([9.0, 2500.0]) / np.array([125.0, 12500.0]))


def test_mlp_probe_fits_a_nonlinear_map_the_linear_one_cannot():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(2000, 2))
    y = (x[:, :1] ** 2 + np.sin(2 * x[:, 1:])).astype(np.float32)
    linear = r2_scores(fit_linear(x[:1500], y[:1500], 1e-6)(x[1500:]), y[1500:])[0]
    mlp = r2_scores(fit_mlp(x[:1500], y[:1500], steps=600, seed=0)(x[1500:]), y[1500:])[0]
    assert mlp > 0.9 > linear + 0.3


def test_stacked_frames_pair_each_latent_with_the_one_before():
    z = [np.arange(8, dtype=np.float32).reshape(4, 2)]
    s = [np.array([[0.0], [1.0], [np.nan], [3.0]])]
    x, y = stack_frames(z, s, k=2)
    assert np.array_equal(x[0], [0, 1, 0, 1]) and np.array_equal(x[1], [2, 3, 0, 1])  # the start repeats
    assert y.ravel().tolist() == [0.0, 1.0, 3.0]  # the row without a state is dropped


def test_angles_are_probed_as_cos_and_sin_which_do_not_wrap():
    rng = np.random.default_rng(0)
    turns = rng.uniform(-3 * np.pi, 3 * np.pi, 2000)  # a freely turning joint: several turns either way
    z = np.stack([np.cos(turns), np.sin(turns), rng.normal(size=2000)], 1)  # latents that know the pose
    state = np.stack([turns, z[:, 2]], 1)
    raw = r2_scores(fit_linear(z[:1500], state[:1500], 1e-3)(z[1500:]), state[1500:])
    assert raw[0] < 0.2 and raw[1] > 0.99  # the raw angle cannot be read off, though the pose is there
    (expanded,), names = angles_as_cos_sin([state], ["joint", "x"], ("joint",))
    assert names == ["joint_cos", "joint_sin", "x"]
    r2 = r2_scores(fit_linear(z[:1500], expanded[:1500], 1e-3)(z[1500:]), expanded[1500:])
    assert r2.min() > 0.99
    with pytest.raises(ValueError, match=r"--angles \['yaw'\]: not quantities of this file's state; it has"):
        angles_as_cos_sin([state], ["joint", "x"], ("yaw",))


def test_a_symmetric_objects_angle_is_also_probed_at_its_order():
    # Latents that see a square's outline and not its marking hold 4 x its angle: the full angle's cos and
    # sin cannot be read off them, the symmetry's columns can.
    rng = np.random.default_rng(0)
    yaw = rng.uniform(-np.pi, np.pi, 2000)
    z = np.stack([np.cos(4 * yaw), np.sin(4 * yaw), rng.normal(size=2000)], 1)
    (expanded,), names = angles_as_cos_sin([yaw[:, None]], ["yaw"], ("yaw",), {"yaw": 4})
    assert names == ["yaw_cos", "yaw_sin", "yaw_cos4", "yaw_sin4"]
    r2 = r2_scores(fit_linear(z[:1500], expanded[:1500], 1e-3)(z[1500:]), expanded[1500:])
    assert r2[:2].max() < 0.05 and r2[2:].min() > 0.99
    with pytest.raises(ValueError, match=r"--symmetry \['x'\]: not angles of this file's state; its angles are"):
        angles_as_cos_sin([np.zeros((3, 2))], ["yaw", "x"], ("yaw",), {"x": 4})


@pytest.mark.parametrize("pair", ["cube_yaw", "cube_yaw=1", "cube_yaw=four", "=4"])
def test_probe_symmetry_must_be_name_equals_order(pair):
    with pytest.raises(ValueError, match=f"--symmetry: expected NAME=K with a whole K >= 2 .*got '{pair}'"):
        ProbeConfig(checkpoint="run", data="data.h5", symmetry=(pair,))


def test_probe_on_a_trained_checkpoint(served_checkpoint, tmp_path):
    # Fresh episodes (another seed), long enough to cover the arena: a probe must not extrapolate.
    data = collect(CollectConfig(episodes=24, steps=100, seed=7, out=str(tmp_path / "probe.h5"), progress=False))
    results = probe(
        ProbeConfig(checkpoint=str(served_checkpoint), data=str(data), out=str(tmp_path), mlp_steps=200, device="cpu")
    )
    assert results["quantities"] == ["agent_x", "agent_y"]
    assert set(results["probes"]) == {"linear_1frame", "mlp_1frame", "linear_2frame", "mlp_2frame"}
    scores = results["probes"]
    # Even a 16-dim model trained for 150 steps locates the agent (the demo model: linear R^2 0.999).
    assert min(scores["mlp_1frame"].values()) > 0.7 and max(scores["linear_1frame"].values()) > 0.7
    written = json.loads((tmp_path / "probe.json").read_text())
    assert written["test_episodes"] == 6 and set(written["errors"]) == set(scores)
    # The RMS error is in the state's units (Two-Room's pixels): a probe with R^2 near 1 errs by a few px.
    for name in results["quantities"]:
        assert 0 < written["errors"]["mlp_1frame"][name] < 20
    text = (tmp_path / "probe.md").read_text()
    assert "RMS error, in the state's units:" in text and text.count("| mlp_1frame |") == 2


def test_supervised_ceiling_reads_what_the_frames_show(served_checkpoint, tmp_path):
    # A fresh encoder of the checkpoint's architecture, trained on frames -> state: the agent's position is
    # plain in Two-Room's frames, so the ceiling reads it; the frozen probes are still fitted beside it.
    data = collect(CollectConfig(episodes=12, steps=60, seed=7, out=str(tmp_path / "probe.h5"), progress=False))
    config = ProbeConfig(
        checkpoint=str(served_checkpoint), data=str(data), mlp_steps=0, frames=(1,), supervised_steps=150, device="cpu"
    )
    scores = probe(config)["probes"]
    assert set(scores) == {"linear_1frame", "supervised_ceiling"}
    assert min(scores["supervised_ceiling"].values()) > 0.8, scores


def test_probe_names_the_quantities_when_angles_are_not_among_them(served_checkpoint, tiny_data, capsys):
    assert main(["probe", "--checkpoint", str(served_checkpoint), "--data", tiny_data, "--angles", "yaw"]) == 2
    assert "--angles ['yaw']: not quantities of this file's state; it has ['agent_x', 'agent_y']" in (
        capsys.readouterr().err
    )


def test_probe_needs_state(served_checkpoint, tmp_path):
    from jepaworld.data import EpisodeWriter

    path = tmp_path / "nostate.h5"
    with EpisodeWriter(
        path, frame_shape=(64, 64, 3), action_dim=0, state_dim=0, env_id="videos", action_low=[], action_high=[], seed=0
    ) as writer:
        writer.add_episode(np.zeros((5, 64, 64, 3), np.uint8), np.zeros((4, 0), np.float32), None, 0)
    assert main(["probe", "--checkpoint", str(served_checkpoint), "--data", str(path)]) == 2


def test_monitor_flags_a_scripted_disturbance():
    monitor = SurpriseMonitor(predict=lambda z, a: z + a, threshold=0.5)  # 'the action moves the latent'
    z = torch.zeros(4)
    flags = []
    for step in range(6):
        monitor.expect(z, torch.ones(4))
        z = z + 1 + (3.0 if step == 3 else 0.0)  # step 3: something pushed the state further
        flags.append(monitor.check(z))
    assert flags == [False, False, False, True, False, False]
    assert monitor.log[3][0] == pytest.approx(9.0) and monitor.log[0][0] == 0.0
    monitor.reset()
    assert monitor.log == [] and monitor.check(z) is False  # nothing expected, nothing to score


def test_monitor_run_end_to_end(served_checkpoint, tmp_path):
    config = MonitorConfig(
        checkpoint=str(served_checkpoint),
        episodes=2,
        steps=60,
        every=(12, 16),
        out=str(tmp_path),
        device="cpu",
        progress=False,
    )
    results = run_monitor(config, PlannerConfig(planner="cem", samples=16, elites=4, iterations=2, horizon=3))
    assert results["calibration"]["threshold"] > 0 and results["calibration"]["held_out"]
    assert results["disturbances"] >= 4 and results["undisturbed_steps"] > 0
    assert 0 <= results["detected_within_2_steps"] <= 1 and 0 <= results["false_alarm_rate"] <= 1
    assert (tmp_path / "monitor.md").read_text().startswith("| threshold")

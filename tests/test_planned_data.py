"""Collecting the planner's own rollouts (``collect --policy planner``) or random ones (``--policy random``),
and merging episode files."""

import dataclasses

import numpy as np
import pytest

from jepaworld.cli.main import main
from jepaworld.data import CollectConfig, EpisodeFile, EpisodeFileError, collect
from jepaworld.data.merge import MergeConfig, merge
from jepaworld.envs.adapter import EnvError
from jepaworld.eval.planned import collect_planned
from jepaworld.planning import PlannerConfig
from jepaworld.train import TrainConfig, train

from .conftest import TINY_MODEL

FAST_PLANNER = PlannerConfig(horizon=3, samples=16, iterations=2, elites=4, icem_keep_elites=2)


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("planned") / "run"
    train(TrainConfig(data=tiny_data, out=str(out), steps=3, batch_size=8, progress=False), TINY_MODEL)
    return str(out)


def _rows(path) -> dict[str, np.ndarray]:
    with EpisodeFile(path) as f:
        rows = {key: f.rows(key, 0, f.num_frames) for key in ("frames", "actions", "state")}
        return {**rows, "ends": f.episode_ends.copy(), "seeds": f.episode_seeds, "extra": f.metadata["extra"]}


def test_planner_rollouts_are_written_with_their_provenance_and_repeat(tiny_run, tmp_path):
    config = CollectConfig(
        policy="planner", checkpoint=tiny_run, episodes=3, steps=8, seed=4, goal_offset=5, progress=False
    )
    first = collect_planned(dataclasses.replace(config, out=str(tmp_path / "a.h5")), FAST_PLANNER)
    planned = _rows(first)
    assert list(planned["ends"]) == [9, 18, 27] and list(planned["seeds"]) == [400_000, 400_001, 400_002]
    assert planned["extra"]["policy"] == "planner" and planned["extra"]["checkpoint"] == tiny_run
    assert planned["extra"]["goal_offset"] == 5
    assert np.all(np.abs(planned["actions"]) <= 1.0)
    # The planner acts, not the data policy: the same seeds' data-policy episodes take other actions.
    data = _rows(collect(CollectConfig(episodes=3, steps=8, seed=4, out=str(tmp_path / "d.h5"), progress=False)))
    assert np.array_equal(planned["frames"][0], data["frames"][0])  # same start
    assert not np.allclose(planned["actions"], data["actions"])
    # The CLI writes the same file (planner seeded by the episode).
    argv = ["collect", "--policy", "planner", "--checkpoint", tiny_run, "--episodes", "3", "--steps", "8"]
    argv += ["--seed", "4", "--goal-offset", "5", "--horizon", "3", "--samples", "16", "--iterations", "2"]
    argv += ["--elites", "4", "--icem-keep-elites", "2", "--no-progress", "--out", str(tmp_path / "b.h5")]
    assert main(argv) == 0
    again = _rows(tmp_path / "b.h5")
    for key in ("frames", "actions", "state"):
        assert np.array_equal(planned[key], again[key]), key


def test_random_collection_wanders_where_the_data_policy_does_not(tmp_path):
    """``--policy random``: momentum-random actions, though Push-T has a data policy of its own; the agent
    reaches the table's edges far more often, its actions follow --momentum, the file says which policy acted,
    and the CLI writes the same."""
    config = CollectConfig(env="jepaworld/PushT-v0", episodes=4, steps=60, seed=2, progress=False)
    wander = _rows(collect(dataclasses.replace(config, policy="random", out=str(tmp_path / "r.h5"))))
    push = _rows(collect(dataclasses.replace(config, out=str(tmp_path / "d.h5"))))
    assert wander["extra"]["policy"] == "random" and push["extra"]["policy"] == "data"
    assert np.array_equal(wander["frames"][0], push["frames"][0])  # the same starts
    assert not np.allclose(wander["actions"], push["actions"])

    def at_edges(rows):
        return float(np.mean(np.minimum(rows["state"][:, :2], 512 - rows["state"][:, :2]).min(1) < 25))

    assert at_edges(wander) > at_edges(push) + 0.1
    white = _rows(collect(dataclasses.replace(config, policy="random", momentum=0.0, out=str(tmp_path / "w.h5"))))

    def change(rows):  # mean change from one action to the next
        return float(np.abs(np.diff(rows["actions"], axis=0)).mean())

    assert change(wander) < 0.5 * change(white)  # --momentum 0.9 (the default) carries actions on
    argv = ["collect", "--env", "jepaworld/PushT-v0", "--policy", "random", "--episodes", "4", "--steps", "60"]
    assert main([*argv, "--seed", "2", "--no-progress", "--out", str(tmp_path / "cli.h5")]) == 0
    assert np.array_equal(_rows(tmp_path / "cli.h5")["actions"], wander["actions"])


def test_planner_collection_refuses_what_it_cannot_plan_with(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="--policy planner plans with a world model: give it --checkpoint RUN"):
        CollectConfig(policy="planner")
    with pytest.raises(ValueError, match="is the planner's world model: add --policy planner"):
        CollectConfig(checkpoint=tiny_run)
    with pytest.raises(ValueError, match="policy must be one of data, random, planner, got 'expert'"):
        CollectConfig(policy="expert")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.0"):
        CollectConfig(policy="random", momentum=1.0)
    with pytest.raises(ValueError, match="is the planner's world model: add --policy planner"):
        CollectConfig(policy="random", checkpoint=tiny_run)
    out = tmp_path / "p.h5"
    config = CollectConfig(policy="planner", checkpoint=tiny_run, episodes=2, steps=4, out=str(out), progress=False)
    with pytest.raises(ValueError, match="collect_planned"):
        collect(config)
    with pytest.raises(EnvError, match=r"--image-size 32: the checkpoint .* sees 64-pixel frames"):
        collect_planned(dataclasses.replace(config, image_size=32), FAST_PLANNER)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect_planned(dataclasses.replace(config, checkpoint=str(tmp_path / "no-run"), workers=2), FAST_PLANNER)
    with pytest.raises(ValueError, match=r"--plan-context 9: .* history of \d+ latents; expected 1\.\.\d+"):
        collect_planned(dataclasses.replace(config, plan_context=9), FAST_PLANNER)
    with pytest.raises(ValueError, match="plan_context must be >= 1, got 0"):
        dataclasses.replace(config, plan_context=0)
    assert not out.exists() and not out.with_name("p.h5.partial").exists()
    assert main(["collect", "--checkpoint", tiny_run, "--episodes", "1"]) == 2


def test_planner_collection_plans_from_a_context_of_latents_as_eval_does(tiny_run, tmp_path):
    config = CollectConfig(
        policy="planner", checkpoint=tiny_run, episodes=2, steps=8, seed=5, goal_offset=5, progress=False
    )
    one = _rows(collect_planned(dataclasses.replace(config, out=str(tmp_path / "one.h5")), FAST_PLANNER))
    two = dataclasses.replace(config, plan_context=2, replan_every=2, plan_blocks=True, out=str(tmp_path / "two.h5"))
    two = _rows(collect_planned(two, FAST_PLANNER))
    assert two["extra"]["plan_context"] == 2 and two["extra"]["replan_every"] == 2 and two["extra"]["plan_blocks"]
    assert one["extra"]["plan_context"] == 1 and one["extra"]["replan_every"] == 1 and not one["extra"]["plan_blocks"]
    assert np.array_equal(one["frames"][0], two["frames"][0])  # same start, other plans
    assert not np.allclose(one["actions"], two["actions"])


def test_merge_copies_episodes_in_order_with_repeats(tiny_data, tmp_path):
    second = collect(CollectConfig(episodes=2, steps=10, seed=8, out=str(tmp_path / "s.h5"), progress=False))
    out = merge(MergeConfig(paths=(tiny_data, str(second)), repeat=(1, 2), out=str(tmp_path / "m.h5"), progress=False))
    a, b, m = _rows(tiny_data), _rows(second), _rows(out)
    assert len(m["ends"]) == len(a["ends"]) + 2 * len(b["ends"])
    assert list(m["seeds"]) == list(a["seeds"]) + 2 * list(b["seeds"])
    for key in ("frames", "actions", "state"):
        assert np.array_equal(m[key], np.concatenate([a[key], b[key], b[key]])), key
    assert [(s["episodes"], s["repeat"]) for s in m["extra"]["merged_from"]] == [(12, 1), (2, 2)]
    assert m["extra"]["env_kwargs"] == a["extra"]["env_kwargs"]
    assert main(["data", "merge", tiny_data, str(second), "--out", str(tmp_path / "c.h5"), "--no-progress"]) == 0
    assert len(_rows(tmp_path / "c.h5")["ends"]) == 14


def test_merge_refuses_files_that_do_not_fit_and_keeps_what_is_there(tiny_data, tmp_path):
    small = collect(CollectConfig(episodes=1, steps=4, image_size=32, out=str(tmp_path / "x.h5"), progress=False))
    out = tmp_path / "m.h5"
    with pytest.raises(EpisodeFileError, match=r"frame shape \[32, 32, 3\], but .* has \[64, 64, 3\]"):
        merge(MergeConfig(paths=(tiny_data, str(small)), out=str(out), progress=False))
    assert not out.exists() and not out.with_name("m.h5.partial").exists()
    with pytest.raises(ValueError, match="one count per input: 2 inputs, got 1 counts"):
        MergeConfig(paths=(tiny_data, str(small)), repeat=(2,))
    with pytest.raises(ValueError, match="is one of the inputs"):
        MergeConfig(paths=(tiny_data, str(small)), out=str(small))
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="already exists"):
        merge(MergeConfig(paths=(tiny_data,), out=str(out), progress=False))
    assert out.read_bytes() == b"keep me"
    assert main(["data", "merge", tiny_data, str(tmp_path / "none.h5"), "--out", str(tmp_path / "n.h5")]) == 2


def test_planner_collection_plans_in_the_steps_metric_as_eval_does(tiny_run, tmp_path):
    config = CollectConfig(
        policy="planner", checkpoint=tiny_run, episodes=2, steps=8, seed=5, goal_offset=5, progress=False
    )
    latent = _rows(collect_planned(dataclasses.replace(config, out=str(tmp_path / "latent.h5")), FAST_PLANNER))
    steps = dataclasses.replace(config, metric="steps", metric_shrink=0.01, out=str(tmp_path / "steps.h5"))
    steps = _rows(collect_planned(steps, FAST_PLANNER))
    assert steps["extra"]["metric"] == "steps" and steps["extra"]["metric_shrink"] == 0.01
    assert latent["extra"]["metric"] == "latent"
    assert np.array_equal(latent["frames"][0], steps["frames"][0])  # same start, other distances
    assert not np.allclose(latent["actions"], steps["actions"])
    moved = dataclasses.replace(
        config, metric="steps", metric_data=str(tmp_path / "gone.h5"), out=str(tmp_path / "m.h5")
    )
    with pytest.raises(ValueError, match=r"the metric data .*gone\.h5 is not a file here"):
        collect_planned(moved, FAST_PLANNER)
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "m.h5.partial").exists()
    with pytest.raises(ValueError, match="metric must be one of"):
        dataclasses.replace(config, metric="cosine")

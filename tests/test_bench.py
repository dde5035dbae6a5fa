"""`jepaworld bench two-room --quick` end to end, twice: the same success counts both times."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jepaworld.cli.bench import SUITES, speedups_against
from jepaworld.planning import PLANNERS, PlannerConfig

ROW_KEYS = (
    "env",
    "planner",
    "episodes",
    "successes",
    "success_rate",
    "success_ci95",
    "plan_ms_per_step_median",
    "plan_ms_per_step_p90",
    "mean_final_distance",
)


def _bench(tmp_path, name, suite="two-room"):
    out, work = tmp_path / f"results-{name}", tmp_path / f"work-{name}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jepaworld",
            "bench",
            suite,
            "--quick",
            "--out",
            str(out),
            "--work",
            str(work),
            "--no-progress",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / f"{suite}-quick.md").exists()
    return json.loads((out / f"{suite}-quick.json").read_text())


@pytest.mark.slow
def test_quick_bench_is_complete_and_reproducible(tmp_path):
    first, second = _bench(tmp_path, "a"), _bench(tmp_path, "b")
    planners = [row["planner"] for row in first["rows"]]
    assert set(PLANNERS.names()) <= set(planners)
    assert {"oracle_scripted", "random"} <= set(planners)
    for row in first["rows"]:
        for key in ROW_KEYS:
            assert key in row, key
        low, high = row["success_ci95"]
        assert 0 <= low <= row["success_rate"] <= high <= 1
    assert [r["successes"] for r in first["rows"]] == [r["successes"] for r in second["rows"]]
    assert [r["mean_final_distance"] for r in first["rows"]] == [r["mean_final_distance"] for r in second["rows"]]


def test_unknown_suite_is_rejected():
    result = subprocess.run([sys.executable, "-m", "jepaworld", "bench", "four-room"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_full_suite_compares_every_planner_at_one_budget_and_the_first_cem():
    suite = SUITES["two-room"][0]
    labels = [label for label, _ in suite.rows()]
    assert labels[0] == PlannerConfig().planner  # the default planner carries the oracle rows
    assert set(PLANNERS.names()) <= set(labels) and suite.reference in labels
    budgets = {(c.samples, c.iterations, c.horizon) for label, c in suite.rows() if label in PLANNERS.names()}
    assert budgets == {(PlannerConfig().samples, PlannerConfig().iterations, PlannerConfig().horizon)}


def test_speedups_are_ratios_of_median_planning_time_to_the_reference():
    rows = [
        {"planner": "icem", "settings": {}, "plan_ms_per_step_median": 10.0},
        {"planner": "first", "settings": {}, "plan_ms_per_step_median": 40.0},
        {"planner": "random", "plan_ms_per_step_median": None},
    ]
    assert speedups_against(rows, "first") == {"icem": 4.0}
    assert speedups_against(rows, None) == {}


@pytest.mark.slow
def test_quick_peer_protocol_suite_uses_offset_goals_and_the_short_budget(tmp_path):
    report = _bench(tmp_path, "swm", suite="two-room-swm")
    assert report["env"] == "jepaworld/TwoRoom-swm-v0"
    assert (report["goal_offset"], report["max_steps"]) == (25, 50)
    assert all(row["mean_steps"] <= 50 for row in report["rows"])


def _load(name: str):
    """``bench/NAME.py`` as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _worlds():
    return _load("worlds")


def test_every_world_recipe_is_a_valid_sequence_of_cli_commands():
    """The recipes (bench/worlds.py) run for hours; each of their commands is checked by the CLI's own parser,
    and each fine-tune (``--init-from``) names the architecture of the run it starts from."""
    import dataclasses

    from jepaworld.cli.main import build_parser
    from jepaworld.models.world_model import ModelConfig
    from jepaworld.train.trainer import LOSS_FIELDS

    shape = [f.name for f in dataclasses.fields(ModelConfig) if f.name not in LOSS_FIELDS]

    parser = build_parser()
    worlds = _worlds()
    for name, recipe in worlds.RECIPES.items():
        parser.parse_args(["collect", *recipe["collect"], "--out", "d.h5"])
        trained = parser.parse_args(["train", "--data", "d.h5", "--out", "run", *recipe["train"]])
        architecture = {k: getattr(trained, k) for k in shape if hasattr(trained, k)}
        for stage in recipe.get("resume", []):
            parser.parse_args(["train", "--data", "d.h5", "--out", "run", "--resume", *stage])
        assert set(recipe) <= {"collect", "train", "resume", *worlds.ROUNDS, "eval"}, name
        sources = ["d.h5"]
        for kind in worlds.ROUNDS:
            for number, stage in enumerate(recipe.get(kind, []), start=1):
                collect = worlds.with_data(stage["collect"], "d.h5")
                policy = ["--policy", "planner", "--checkpoint", "run"] if kind == "planner" else []
                collected = parser.parse_args(["collect", *collect, *policy])
                expected = ("planner",) if kind == "planner" else ("data", "random")  # "more": no model acts
                assert collected.policy in expected, f"{name} {kind} {number}"
                assert worlds.DATA not in collect and collected.metric_data in ("", "d.h5"), name
                sources.append(f"{kind}{number}.h5")
                assert len(stage["repeat"]) == len(sources), f"{name} {kind} {number}: one count per file merged"
                parser.parse_args(["data", "merge", *sources, "--repeat", *stage["repeat"], "--out", "m.h5"])
                tune = ["train", "--data", "m.h5", "--out", "ft", "--init-from", "run", *stage["train"]]
                tuned = parser.parse_args(tune)
                assert {k: getattr(tuned, k) for k in architecture} == architecture, f"{name} {kind} {number}"
        evaluation = parser.parse_args(["eval", "--checkpoint", "run", *worlds.with_data(recipe["eval"], "d.h5")])
        assert evaluation.metric_data in ("", "d.h5"), name


def test_a_recipe_with_both_kinds_of_round_runs_end_to_end(tmp_path):
    """The runner itself (bench/worlds.py ``run``) on a tiny recipe: base training, a "more" round (the data
    policy's episodes, the predictor alone), then a planner round from the tuned run, then the evaluation."""
    worlds = _worlds()
    tiny = ("--batch-size", "8", "--checkpoint-every", "5", "--latent-dim", "32", "--predictor-width", "16")
    pusht = ("--env", "jepaworld/PushT-v0", "--steps", "20")
    worlds.RECIPES["tiny"] = {
        "collect": [*pusht, "--episodes", "4"],
        "train": ["--steps", "5", *tiny],
        "more": [
            {
                "collect": [*pusht, "--episodes", "3", "--seed", "1"],
                "repeat": ["1", "1"],
                "train": ["--freeze-encoder", "--steps", "5", *tiny],
            }
        ],
        "planner": [
            {
                "collect": [*pusht, "--episodes", "2", "--goal-offset", "3", "--samples", "8", "--elites", "4"],
                "repeat": ["1", "1", "2"],
                "train": ["--steps", "5", *tiny],
            }
        ],
        "eval": ["--episodes", "2", "--goal-offset", "3", "--max-steps", "2", "--no-oracle", "--samples", "8"],
    }
    worlds.RECIPES["tiny"]["eval"] += ["--elites", "4", "--metric", "steps", "--metric-data", worlds.DATA]
    report = worlds.run("tiny", tmp_path)

    files = {path.name for path in tmp_path.iterdir()}
    assert {"data.h5", "run", "more.h5", "merged-more.h5", "more-ft", "planned.h5", "merged.h5", "ft"} <= files
    tuned = json.loads((tmp_path / "more-ft" / "train_config.json").read_text())["train"]
    assert tuned["init_from"] == str(tmp_path / "run") and tuned["data"] == str(tmp_path / "merged-more.h5")
    assert json.loads((tmp_path / "ft" / "train_config.json").read_text())["train"]["init_from"] == str(
        tmp_path / "more-ft"
    )
    assert set(report["phase_seconds"]) == {
        *("collect", "train", "more_collect", "more_merge", "more_fine_tune"),
        *("planner_collect", "merge", "fine_tune", "eval"),
    }
    assert report["checkpoint"].startswith(str(tmp_path / "ft")) and report["episodes"] == 2
    misses = _misses(tmp_path / "eval" / "results.json", out=tmp_path / "misses")
    assert misses["pooled"]["pairs"] == 2
    assert sum(misses["pooled"][k] for k in ("successes", "within", "near", "beyond")) == 2
    # an eval made before evals recorded the start distance: each pair's start is replayed, to the same figure
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    episodes = results["episodes_detail"]["world_model"]
    recorded = {e["seed"]: e.pop("start_distance") for e in episodes}
    assert all(d is not None and d >= 0 for d in recorded.values())
    assert _load("misses").start_distances(results, episodes) == pytest.approx(recorded)


#: A recipe runner in a process of its own: ``python -c RUN_RECIPE WORLDS_PY RECIPE_JSON OUT``.
RUN_RECIPE = """
import importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("bench_worlds", sys.argv[1])
worlds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worlds)
worlds.RECIPES["tiny"] = json.loads(sys.argv[2])
worlds.run("tiny", Path(sys.argv[3]))
"""


def test_a_recipe_killed_during_training_goes_on_with_resume(tmp_path, capfd):
    """A real stop: the runner's process group killed once its training wrote a checkpoint. A rerun without
    --resume is refused, as is one with a changed recipe; with --resume the collect is skipped (the data
    file untouched), the training goes on from its checkpoint, and the evaluation runs."""
    import os
    import signal
    import time

    worlds = _worlds()
    tiny = ("--batch-size", "8", "--latent-dim", "32", "--predictor-width", "16")
    recipe = {
        "collect": ["--env", "jepaworld/PushT-v0", "--steps", "20", "--episodes", "3"],
        "train": ["--steps", "150", "--checkpoint-every", "5", *tiny],
        "eval": ["--episodes", "1", "--goal-offset", "3", "--max-steps", "2", "--no-oracle", "--samples", "8"],
    }
    recipe["eval"] += ["--elites", "4"]
    out = tmp_path / "recipe"
    command = [sys.executable, "-c", RUN_RECIPE, worlds.__file__, json.dumps(recipe), str(out)]
    runner = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (out / "run" / "latest").exists() and runner.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    progress = json.loads((out / "progress.json").read_text())
    assert (progress["running"], list(progress["done"])) == ("train", ["collect"])
    data_written = (out / "data.h5").stat().st_mtime_ns
    worlds.RECIPES["tiny"] = recipe
    with pytest.raises(SystemExit, match=r"--from-run: .* has not finished .*train phase was running.*--resume"):
        worlds.recorded_seconds("tiny", out)  # a stopped run is not summarised as if finished

    with pytest.raises(SystemExit, match="pass --resume to go on with it"):
        worlds.run("tiny", out)
    worlds.RECIPES["tiny"] = {**recipe, "train": ["--steps", "100", *recipe["train"][2:]]}
    with pytest.raises(SystemExit, match="another version of the tiny recipe"):
        worlds.run("tiny", out, resume=True)
    worlds.RECIPES["tiny"] = recipe
    capfd.readouterr()
    report = worlds.run("tiny", out, resume=True)

    assert "resuming" in capfd.readouterr().out  # jepaworld train --resume: on from the checkpoint
    assert (out / "data.h5").stat().st_mtime_ns == data_written
    assert report["train_steps"] == 150 and report["interrupted_phases"] == ["train"]
    assert set(report["phase_seconds"]) == {"collect", "train", "eval"}
    assert "run again after a stop" in worlds.markdown(report)
    assert worlds.recorded_seconds("tiny", out) == (report["phase_seconds"], ["train"])  # --from-run reads them
    assert json.loads((out / "progress.json").read_text())["running"] is None


def test_a_recipe_refuses_an_out_holding_other_files(tmp_path):
    """Nothing stored is overwritten: a recipe starts only in an empty or new --out, or resumes its own run."""
    worlds = _worlds()
    (tmp_path / "data.h5").write_bytes(b"someone's data")
    with pytest.raises(SystemExit, match=r"holds files \(data\.h5\) but no progress\.json: a recipe starts"):
        worlds.run("push-t", tmp_path)
    with pytest.raises(SystemExit, match=r"no progress\.json: nothing to resume"):
        worlds.run("push-t", tmp_path, resume=True)
    (tmp_path / "progress.json").write_text("{not json")
    with pytest.raises(SystemExit, match="is not a recipe run's progress"):
        worlds.run("push-t", tmp_path, resume=True)
    assert (tmp_path / "data.h5").read_bytes() == b"someone's data"


@pytest.mark.parametrize("start_offset", [0, 75])
def test_misses_replay_the_start_distance_an_older_eval_did_not_record(start_offset):
    """An eval from before ``start_distance`` was recorded: bench/misses.py resets the eval's env on each
    pair's seed with its goals and measures the start as the eval itself does (``run_episode``), with the
    eval's room for the steps before a start drawn from the data policy's run (``--start-offset``)."""
    from jepaworld.data import CollectConfig
    from jepaworld.envs.adapter import make_env
    from jepaworld.eval.goals import episode_limit, make_goal_task
    from jepaworld.eval.protocol import held_out_seeds, run_episode

    env = make_env("jepaworld/PushT-v0", max_episode_steps=episode_limit(50, start_offset))  # as the eval makes it
    task = make_goal_task(env, 25, "state", 0.0, CollectConfig().momentum, start_offset)
    seeds = held_out_seeds(0, 3)

    class Idle:
        def reset(self, env, seed, goal):
            pass

    measured = {s: run_episode(env, Idle(), s, max_steps=0, task=task)["start_distance"] for s in seeds}
    results = {"env": "jepaworld/PushT-v0", "goal_offset": 25, "success_radius": 0.0, "start_offset": start_offset}
    results["eval"] = {"env_kwargs": "", "state_key": "state", "max_steps": 50}
    replayed = _load("misses").start_distances(results, [{"seed": s} for s in seeds])
    assert replayed == pytest.approx(measured) and min(measured.values()) > 20  # goals 25 pushes away
    with pytest.raises(ValueError, match="no env and goal offset to replay"):
        _load("misses").start_distances({}, [{"seed": seeds[0]}])


def _run_misses(*paths, out):
    """bench/misses.py on ``paths``, writing under ``out`` -> the finished process."""
    command = [sys.executable, "bench/misses.py", *map(str, paths), "--name", "t", "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)


def _misses(*paths, out):
    """bench/misses.py on ``paths`` -> its JSON report (``out``: where it writes)."""
    result = _run_misses(*paths, out=out)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "misses-t.json").read_text())


def test_misses_are_binned_by_final_distance_and_pooled(tmp_path):
    """bench/misses.py: each eval's failed episodes by final distance (<= --within: in place, orientation
    off; <= --near; beyond) and stalled (ending less than --within nearer than they started), pooled; a file
    that is not an eval's results is refused by name."""
    detail = [(True, 0.01, 0.2), (False, 0.02, 0.1), (False, 0.0201, 0.03), (False, 0.05, 0.2), (False, 0.3, 0.25)]
    episodes = [
        {"seed": i, "success": s, "steps": 5, "final_distance": d, "start_distance": d0}
        for i, (s, d, d0) in enumerate(detail)
    ]
    results = {"checkpoint": "run", "seed": 0, "planner_seed": 0, "episodes_detail": {"world_model": episodes}}
    (tmp_path / "a.json").write_text(json.dumps(results))
    (tmp_path / "b.json").write_text(json.dumps({**results, "seed": 3}))
    report = _misses(tmp_path / "a.json", tmp_path / "b.json", out=tmp_path)
    assert report["files"][str(tmp_path / "a.json")] == {
        **{"checkpoint": "run", "seed": 0, "planner_seed": 0, "pairs": 5, "successes": 1},
        **{"within": 1, "near": 2, "beyond": 1, "stalled": 2},  # 0.03 -> 0.0201 and 0.25 -> 0.3
    }
    assert report["pooled"] == {"pairs": 10, "successes": 2, "within": 2, "near": 4, "beyond": 2, "stalled": 4}
    (tmp_path / "c.json").write_text("not json")
    episodes[1]["final_distance"] = None  # an env without state: no distance to bin
    (tmp_path / "d.json").write_text(json.dumps(results))
    for name, expected in (("c.json", "c.json: expected an eval's results.json"), ("d.json", "d.json: a miss has no")):
        result = _run_misses(tmp_path / name, out=tmp_path)
        assert result.returncode != 0 and expected in result.stderr, result.stderr


def test_latent_geometry_measures_prediction_and_refuses_a_horizon_longer_than_the_episodes(
    served_checkpoint, tiny_data, tmp_path
):
    """bench/latent_geometry.py: the prediction errors 1 and --horizon model steps ahead, next to copying the
    last latent, on episodes that hold such windows; a horizon no episode holds (the tiny model: history 2,
    frameskip 2; the episodes: 31 frames) is refused with the lengths, and writes nothing."""
    root = Path(__file__).resolve().parent.parent

    def geometry(horizon: int) -> subprocess.CompletedProcess:
        command = [sys.executable, "bench/latent_geometry.py", "--checkpoint", str(served_checkpoint)]
        command += ["--data", tiny_data, "--episodes", "4", "--horizon", str(horizon), "--pairs", "200"]
        return subprocess.run(
            [*command, "--name", "t", "--out", str(tmp_path)], capture_output=True, text=True, cwd=root
        )

    result = geometry(4)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "latent-geometry-t.json").read_text())
    for row in report["prediction"]:
        assert row["windows"] > 0 and 0 < row["error_1"] < float("inf") and 0 < row["copy_4"] < float("inf")
    (tmp_path / "latent-geometry-t.json").unlink()
    result = geometry(20)
    assert result.returncode != 0
    assert "expected episodes of more than 44 frames" in result.stderr and "has 31" in result.stderr, result.stderr
    assert not (tmp_path / "latent-geometry-t.json").exists()

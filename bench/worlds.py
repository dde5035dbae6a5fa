"""Benchmark: the recipe for each world (Push-T, Reacher, Cube): collect -> train -> evaluate, timed.

Runs the same commands as the README, through the CLI, and writes ``bench/results/world-NAME.json`` and a
markdown table beside it: success with its 95% interval next to the random floor on the same held-out
pairs, wall time of each phase, peak memory of training. A recipe with planner rounds then, in each round,
collects the latest model's own planned episodes (``collect --policy planner``), merges them with the data
and the earlier rounds' episodes, and fine-tunes the latest model on all of it (``train --init-from``),
before the evaluation (DAgger: the model learns the states its own plans reach). A recipe with "more"
rounds first collects more of the data policy's episodes on another seed in each, merges them the same
way and fine-tunes (e.g. the predictor alone, ``--freeze-encoder``, on four times the episodes).

    python bench/worlds.py push-t [--out runs/bench/push-t]
    python bench/worlds.py push-t --out runs/bench/push-t --resume   # go on with a run that was stopped
    python bench/worlds.py push-t --from-run runs/bench/push-t   # summarise a finished run again
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PUSH_T_COLLECT = ("--env", "jepaworld/PushT-v0", "--episodes", "1500", "--steps", "100")
CUBE_COLLECT = ("--env", "jepaworld/Cube-v0", "--episodes", "1500", "--steps", "100")  # the GPU rows' data
CUBE_TRAIN = ("--steps", "12000", "--batch-size", "64", "--checkpoint-every", "1000")
GPU_WIDE_TRAIN = (
    *("--steps", "10000", "--batch-size", "256", "--encoder-width", "32", "--predictor-width", "256"),
    *("--predictor-depth", "4", "--checkpoint-every", "1000", "--cache-mb", "8192", "--device", "cuda"),
)
PLANNER_FINE_TUNE = ("--steps", "4000", "--lr", "6e-4", "--batch-size", "64", "--checkpoint-every", "1000")
REACHER_PLANNED = (
    *("--env", "jepaworld/Reacher-v0", "--plan-context", "3", "--goal-offset", "30"),
    *("--steps", "100", "--workers", "2"),
)
PUSH_T_PLANNED = ("--env", "jepaworld/PushT-v0", "--goal-offset", "25", "--episodes", "1000", "--steps", "50")
GPU_EVAL = ("--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", "--device", "cuda")
#: Rounds after the base training, in this order: "more" collects more of the data policy's episodes (or
#: momentum-random ones, ``--policy random``), "planner" the latest model's own planned ones (``data_round``);
#: each merges and fine-tunes.
ROUNDS = ("more", "planner")
DATA = "{data}"  # in a recipe's arguments: its data file (the steps metric is measured on it)
IN_STEPS_METRIC = ("--metric", "steps", "--metric-data", DATA)
PUSH_T_PLANNED_STEPS = (*PUSH_T_PLANNED, "--workers", "2", *IN_STEPS_METRIC)
CUBE_3000 = ("--env", "jepaworld/Cube-v0", "--episodes", "3000", "--steps", "100", "--workers", "2")
CUBE_PLANNED_STEPS = (
    *("--env", "jepaworld/Cube-v0", "--goal-offset", "25", "--episodes", "1000", "--steps", "50"),
    *("--workers", "2", *IN_STEPS_METRIC),
)
BIG_PREDICTOR = ("--predictor-width", "256", "--predictor-depth", "4")  # 256 x 4 blocks (the default: 128 x 2)
BIG_PREDICTOR_TRAIN = ("--batch-size", "64", "--checkpoint-every", "1000", *BIG_PREDICTOR)
#: Patch latents: an 8 x 8 grid of 16 channels, the conv predictor, SIGReg per cell (models/world_model.py).
PATCHES = (
    *("--latent-dim", "1024", "--latent-grid", "8", "--predictor", "conv", "--predictor-width", "64"),
    *("--sigreg-cells", "--sigreg-projections", "32"),
)
PATCHES_TRAIN = ("--batch-size", "64", "--checkpoint-every", "1000", "--cache-mb", "4096", *PATCHES)
#: The patch model plans 13 times as slowly as the recipe's: 600 planned episodes a round (45 min, 2 processes).
PUSH_T_PATCHES_PLANNED = (
    *("--env", "jepaworld/PushT-v0", "--goal-offset", "25", "--episodes", "600", "--steps", "50"),
    *("--workers", "2", *IN_STEPS_METRIC),
)


def frozen_more_round(collect: tuple, train: tuple) -> list[dict]:
    """One "more" round (``data_round``): ``collect`` the data policy's episodes, merged once each with the
    data, and the predictor alone (``--freeze-encoder``, ``--lr 3e-4``) trained on all of it with ``train``."""
    return [{"collect": list(collect), "repeat": ["1", "1"], "train": ["--freeze-encoder", "--lr", "3e-4", *train]}]


def planner_rounds(first: tuple, later: tuple, rounds: int, model: tuple = ()) -> list[dict]:
    """Planner rounds (``data_round``): round 1 plans with ``first``, fine-tunes 4000 steps; round r > 1
    plans with ``later`` on seed 14 + r, fine-tunes 2000. The data once, each round's episodes twice.
    ``model``: the architecture's train options (a fine-tune must name the checkpoint's)."""
    first_tune = (*PLANNER_FINE_TUNE, "--cache-mb", "4096", *model)
    later_tune = (*PLANNER_FINE_TUNE[2:], "--steps", "2000", "--cache-mb", "6144", *model)
    return [
        {
            "collect": [*(first if r == 1 else later), "--seed", str(14 + r)],
            "repeat": ["1", *["2"] * r],
            "train": list(first_tune if r == 1 else later_tune),
        }
        for r in range(1, rounds + 1)
    ]


RECIPES = {
    "push-t": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "8000", "--batch-size", "64", "--checkpoint-every", "1000"],
        # Then on to 14000 steps (--resume): a second, shorter cosine cycle from the 8000-step weights.
        "resume": [["--steps", "14000", "--batch-size", "64", "--checkpoint-every", "1000"]],
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50"],
    },
    # The push-t recipe, then the planner's own episodes (as reacher-planner): each round the latest model
    # plans 1000 episodes of 50 steps on training seeds (goals 25+ data-policy steps ahead); all merged,
    # the data once and the planner's episodes twice; a fine-tune from the latest model.
    "push-t-planner": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "8000", "--batch-size", "64", "--checkpoint-every", "1000"],
        "resume": [["--steps", "14000", "--batch-size", "64", "--checkpoint-every", "1000"]],
        "planner": planner_rounds((*PUSH_T_PLANNED, "--workers", "2"), (*PUSH_T_PLANNED, "--workers", "2"), 3),
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle"],
    },
    # push-t-planner planning in the steps metric (planning.metric), in the rounds and in the evaluation,
    # measured on the recipe's own data each time.
    "push-t-planner-steps": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "8000", "--batch-size", "64", "--checkpoint-every", "1000"],
        "resume": [["--steps", "14000", "--batch-size", "64", "--checkpoint-every", "1000"]],
        "planner": planner_rounds(PUSH_T_PLANNED_STEPS, PUSH_T_PLANNED_STEPS, 4),
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # The push-t recipe with a predictor twice as wide and twice as deep (256 x 4 blocks): oracle_dynamics
    # (eval --oracle-dynamics) put most of Push-T's gap in the model's dynamics, not in its latents.
    "push-t-big-predictor": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "8000", *BIG_PREDICTOR_TRAIN],
        "resume": [["--steps", "14000", *BIG_PREDICTOR_TRAIN]],
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # push-t-big-predictor, then push-t-planner-steps' rounds (two), each fine-tune with the big predictor.
    "push-t-big-predictor-planner": {
        "collect": [*PUSH_T_COLLECT, "--workers", "2"],
        "train": ["--steps", "8000", *BIG_PREDICTOR_TRAIN],
        "resume": [["--steps", "14000", *BIG_PREDICTOR_TRAIN]],
        "planner": planner_rounds(PUSH_T_PLANNED_STEPS, PUSH_T_PLANNED_STEPS, 2, BIG_PREDICTOR),
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # Patch latents with SIGReg per cell: the first setting whose latents hold the block's angle (probes in
    # docs/worlds.md); 4000 steps, then on to 8000 (--resume), scored in the steps metric.
    "push-t-patches": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "4000", *PATCHES_TRAIN],
        "resume": [["--steps", "8000", *PATCHES_TRAIN]],
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # push-t-patches on to 12000 steps (a third cosine cycle), then one planner round (push-t-planner-steps'
    # first, 600 planned episodes) with the patch model's options in the fine-tune.
    "push-t-patches-planner": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "4000", *PATCHES_TRAIN],
        "resume": [["--steps", "8000", *PATCHES_TRAIN], ["--steps", "12000", *PATCHES_TRAIN]],
        "planner": planner_rounds(PUSH_T_PATCHES_PLANNED, PUSH_T_PATCHES_PLANNED, 1, PATCHES),
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # push-t-patches on to 20000 steps (five cosine cycles), then a "more" round: 4500 more episodes of the
    # data policy (seed 1) merged with the 1500, and the predictor alone (--freeze-encoder) trained on all
    # 6000 from the 20000-step model (the held-out one-step error 17% lower than on the 1500).
    "push-t-patches-more-data": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "4000", *PATCHES_TRAIN],
        "resume": [["--steps", str(steps), *PATCHES_TRAIN] for steps in (8000, 12000, 16000, 20000)],
        "more": frozen_more_round(
            ("--env", "jepaworld/PushT-v0", "--episodes", "4500", "--steps", "100", "--seed", "1"),
            ("--steps", "12000", *PATCHES_TRAIN),
        ),
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # push-t-patches-more-data, then a second "more" round of momentum-random episodes (collect --policy
    # random): the data policy seldom drives the agent into a wall, so its predictor imagined the agent
    # going on through one, and the planner pressed it into corners (docs/worlds.md). 3000 random episodes
    # (seed 3) join the 6000 and the predictor alone is trained on all 9000 from the round-1 model.
    "push-t-patches-wander": {
        "collect": [*PUSH_T_COLLECT],
        "train": ["--steps", "4000", *PATCHES_TRAIN],
        "resume": [["--steps", str(steps), *PATCHES_TRAIN] for steps in (8000, 12000, 16000, 20000)],
        "more": [
            *frozen_more_round(
                ("--env", "jepaworld/PushT-v0", "--episodes", "4500", "--steps", "100", "--seed", "1"),
                ("--steps", "12000", *PATCHES_TRAIN),
            ),
            {
                "collect": [
                    *(*PUSH_T_COLLECT[:2], "--policy", "random", "--episodes", "3000", "--steps", "100"),
                    *("--seed", "3", "--workers", "2"),
                ],
                "repeat": ["1", "1", "1"],
                "train": ["--freeze-encoder", "--lr", "3e-4", "--steps", "6000", *PATCHES_TRAIN],
            },
        ],
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # The cube-planner-steps recipe's 12000-step model, then a "more" round: 6000 more episodes of the data
    # policy merged with the 3000, and the predictor alone (--freeze-encoder) trained on all 9000; planned
    # from the last 3 latents (--plan-context 3), where its rollouts err least (docs/worlds.md).
    "cube-more-data": {
        "collect": [*CUBE_3000],
        "train": [*CUBE_TRAIN, "--cache-mb", "4096"],
        "more": frozen_more_round(
            ("--env", "jepaworld/Cube-v0", "--episodes", "6000", "--steps", "100", "--workers", "2", "--seed", "1"),
            (*CUBE_TRAIN, "--cache-mb", "4096"),
        ),
        "eval": [
            *("--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", "--plan-context", "3"),
            *IN_STEPS_METRIC,
        ],
    },
    # The GPU recipes (one H100). cube-gpu is the CPU recipe on the GPU. The wide ones: a wider encoder and
    # predictor, batches of 256; push-t-gpu and cube-gpu-wide ran side by side. Collection in 8 processes,
    # the file's frames held decompressed in memory (--cache-mb).
    "push-t-gpu": {
        "collect": [*PUSH_T_COLLECT, "--workers", "8"],
        "train": [*GPU_WIDE_TRAIN],
        "eval": [*GPU_EVAL],
    },
    "cube-gpu": {
        "collect": [*CUBE_COLLECT, "--workers", "8"],
        "train": [*CUBE_TRAIN, "--cache-mb", "8192", "--device", "cuda"],
        "eval": [*GPU_EVAL],
    },
    "cube-gpu-wide": {
        "collect": [*CUBE_COLLECT, "--workers", "8"],
        "train": [*GPU_WIDE_TRAIN],
        "eval": [*GPU_EVAL],
    },
    "reacher": {
        "collect": ["--env", "jepaworld/Reacher-v0", "--episodes", "1000", "--steps", "100"],
        "train": ["--steps", "4000", "--batch-size", "64", "--checkpoint-every", "1000"],
        "eval": ["--episodes", "100", "--max-steps", "100"],
    },
    # The planner's own episodes (DAgger, four rounds). Round 1: the model trained on the data policy's
    # episodes plans 1000 episodes on training seeds, one torque held per model step; merged with the data,
    # counted twice; a fine-tune from that model (13.0% with --plan-blocks, 7.0% held). Rounds 2 and 3: the
    # latest model plans 300 more, each model step's 5 torques planned one by one (--plan-blocks); all
    # merged; a shorter fine-tune (66.0%, then 73.0%). Round 4 the same (80.0%).
    "reacher-planner": {
        "collect": ["--env", "jepaworld/Reacher-v0", "--episodes", "1000", "--steps", "100"],
        "train": ["--steps", "6000", "--batch-size", "64", "--checkpoint-every", "1000"],
        "planner": planner_rounds(
            (*REACHER_PLANNED, "--episodes", "1000"), (*REACHER_PLANNED, "--plan-blocks", "--episodes", "300"), 4
        ),
        # Scored with --energy running (the mean distance to the goal over the horizon: get there and stay):
        # 100.0% with the round-4 model, 80.0% with the default energy (min: the closest approach).
        "eval": [
            *("--episodes", "100", "--max-steps", "100", "--plan-context", "3", "--plan-blocks"),
            *("--energy", "running", "--no-oracle"),
        ],
    },
    "cube-planner": {
        "collect": [*CUBE_3000],
        "train": [*CUBE_TRAIN, "--cache-mb", "4096"],
        "planner": [
            {
                "collect": [
                    *("--env", "jepaworld/Cube-v0", "--goal-offset", "25"),
                    *("--episodes", "1000", "--steps", "50", "--seed", "15", "--workers", "2"),
                ],
                "repeat": ["1", "2"],
                "train": [*PLANNER_FINE_TUNE, "--cache-mb", "6144"],
            }
        ],
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle"],
    },
    # The cube recipe's 12000-step model (the steps metric scores it as the 18000-step one: 63.0% both), then
    # push-t-planner-steps' rounds (two): the planner's own episodes planned and scored in the steps metric.
    "cube-planner-steps": {
        "collect": [*CUBE_3000],
        "train": [*CUBE_TRAIN, "--cache-mb", "4096"],
        "planner": planner_rounds(CUBE_PLANNED_STEPS, CUBE_PLANNED_STEPS, 2),
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    # The cube-planner-steps recipe's first stage with push-t-big-predictor's predictor (256 x 4 blocks): on Cube it
    # scores no higher (60.0% against 65.0% on block 0, 54.0% against 54.5% on 200 other pairs), 4 times slower.
    "cube-big-predictor": {
        "collect": [*CUBE_3000],
        "train": [*CUBE_TRAIN, "--cache-mb", "4096", *BIG_PREDICTOR],
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle", *IN_STEPS_METRIC],
    },
    "cube": {
        # 3000 episodes (was 1500: 59.0%), then on to 18000 steps (--resume): a second, shorter cosine cycle.
        "collect": [*CUBE_3000],
        "train": [*CUBE_TRAIN],
        "resume": [["--steps", "18000", "--batch-size", "64", "--checkpoint-every", "1000"]],
        # The oracle row (99.0% on these pairs, 5 min of CPU) was measured once, with the 1500-episode model.
        "eval": ["--episodes", "100", "--goal-offset", "25", "--max-steps", "50", "--no-oracle"],
    },
}


def _jepaworld(*args: str) -> float:
    """Run one CLI command -> its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jepaworld", *args, "--no-progress"], check=True)
    return time.perf_counter() - start


def run(name: str, out: Path, resume: bool = False) -> dict:
    """Run recipe ``name`` in ``out``; with ``resume``, go on with the run stopped there (``Progress``)."""
    recipe = RECIPES[name]
    progress = Progress(out, name, resume)
    data, run_dir = str(out / "data.h5"), str(out / "run")
    collect = ("collect", *recipe["collect"], "--out", data, "--overwrite")
    progress.phase("collect", lambda again: _jepaworld(*collect))
    train = ("train", "--data", data, "--out", run_dir, *recipe["train"])
    progress.phase("train", lambda again: _jepaworld(*train, *_going_on(again, run_dir)))
    for number, stage in enumerate(recipe.get("resume", []), start=1):  # each on from the last: one more cosine cycle
        resumed = ("train", "--data", data, "--out", run_dir, "--resume", *stage)
        progress.phase(f"train_resume_{number}", lambda again, a=resumed: _jepaworld(*a))
    sources = [data]
    for kind in ROUNDS:  # the data policy's extra episodes first, then the planner's own
        for number, stage in enumerate(recipe.get(kind, []), start=1):
            run_dir = data_round(kind, number, stage, sources, run_dir, out, progress)
    evaluation = ("eval", "--checkpoint", run_dir, *with_data(recipe["eval"], data), "--out", str(out / "eval"))
    progress.phase("eval", lambda again: _jepaworld(*evaluation))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    seconds, interrupted = recorded_seconds(name, out)
    report = summarise(name, out, seconds, peak_mb)
    report["interrupted_phases"] = interrupted
    return report


def _going_on(again: bool, run_dir: str) -> tuple[str, ...]:
    """A training phase run again after it was stopped goes on from its latest checkpoint, if it wrote one."""
    return ("--resume",) if again and (Path(run_dir) / "latest").exists() else ()


def stored_recipe(name: str) -> dict:
    """Recipe ``name`` as ``progress.json`` stores it (its tuples are lists)."""
    return json.loads(json.dumps(RECIPES[name]))


def stored_progress(path: Path, name: str, flag: str) -> dict:
    """The progress file ``path`` of a run of recipe ``name`` as it is now, or an error naming ``flag``."""
    try:
        stored = json.loads(path.read_text())
        world, recipe = stored["world"], stored["recipe"]
        stored["done"], stored["running"], stored["interrupted"]
    except (ValueError, KeyError, TypeError) as error:
        raise SystemExit(
            f"{flag}: {path} is not a recipe run's progress ({error!r}); choose another directory"
        ) from None
    if world != name or recipe != stored_recipe(name):
        what = f"the {world} recipe" if world != name else f"another version of the {name} recipe"
        raise SystemExit(f"{flag}: {path.parent} holds a run of {what}; use that recipe, or choose another directory")
    return stored


class Progress:
    """The phases of one recipe run that finished, with their wall times, in ``OUT/progress.json``.

    A run stopped part way (a killed process, the end of a session, a full disk) goes on with ``--resume``:
    finished phases are skipped, the one that was running starts again (a training phase from its latest
    checkpoint: ``jepaworld train --resume``). Its time then covers only the attempt that finished it; such
    phases are listed in ``interrupted``. Without ``--resume`` an ``OUT`` that holds anything is refused, so
    that no stored data or model is overwritten; with it, the recipe must be the one the run started with.
    """

    def __init__(self, out: Path, name: str, resume: bool) -> None:
        self.path = out / "progress.json"
        self.state = {"world": name, "recipe": stored_recipe(name), "done": {}, "running": None, "interrupted": []}
        held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        if self.path.exists() and resume:
            self.state = stored_progress(self.path, name, "--resume")
        elif self.path.exists():
            raise SystemExit(
                f"{out} holds a recipe run ({self.path.name}): pass --resume to go on with it, or choose another --out"
            )
        elif held:
            shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
            why = "nothing to resume" if resume else "a recipe starts in an empty or new --out"
            raise SystemExit(
                f"{out} holds files ({shown}) but no {self.path.name}: {why}, and nothing stored there is "
                "overwritten; choose another --out"
            )
        out.mkdir(parents=True, exist_ok=True)

    def phase(self, key: str, run) -> None:
        """Run phase ``key`` unless it finished before, recording its wall time. ``run(again) -> seconds``:
        ``again`` when the phase was running when the run stopped."""
        if key in self.state["done"]:
            print(f"--resume: {key} finished before ({self.state['done'][key]:.0f} s); skipped")
            return
        again = self.state["running"] == key
        if again and key not in self.state["interrupted"]:
            self.state["interrupted"].append(key)
        self.state["running"] = key
        self._save()
        self.state["done"][key] = run(again)
        self.state["running"] = None
        self._save()

    def _save(self) -> None:
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.state, indent=2) + "\n")
        partial.replace(self.path)  # all or nothing


def with_data(args: list[str], data: str) -> list[str]:
    """A recipe's arguments with ``DATA`` standing for its data file replaced by ``data``."""
    return [data if arg == DATA else arg for arg in args]


def data_round(
    kind: str, number: int, stage: dict, sources: list[str], run_dir: str, out: Path, progress: Progress
) -> str:
    """Round ``number`` of ``kind`` (``ROUNDS``): new episodes (``run_dir``'s planned ones in a planner
    round, the data policy's or random ones in a "more" round) join ``sources`` (the data and earlier rounds' episodes,
    counted ``stage["repeat"]`` times each), and a fine-tune from ``run_dir`` on them all -> the tuned run."""
    tag, key = ("", "") if number == 1 else (str(number), f"_{number}")
    if kind == "planner":
        episodes, merged, tuned = f"planned{tag}.h5", f"merged{tag}.h5", f"ft{tag}"
        policy, prefix = ("--policy", "planner", "--checkpoint", run_dir), ""
    else:
        episodes, merged, tuned = f"more{tag}.h5", f"merged-more{tag}.h5", f"more-ft{tag}"
        policy, prefix = (), "more_"
    episodes, merged, tuned = str(out / episodes), str(out / merged), str(out / tuned)
    collect = ("collect", *with_data(stage["collect"], sources[0]), *policy, "--out", episodes, "--overwrite")
    progress.phase(f"{kind}_collect{key}", lambda again: _jepaworld(*collect))
    sources.append(episodes)
    if len(stage["repeat"]) != len(sources):
        raise SystemExit(f"{kind} round {number}: expected {len(sources)} repeat counts, got {stage['repeat']}")
    merge = ("data", "merge", *sources, "--repeat", *stage["repeat"], "--out", merged, "--overwrite")
    progress.phase(f"{prefix}merge{key}", lambda again: _jepaworld(*merge))
    tune = ("train", "--data", merged, "--out", tuned, "--init-from", run_dir, *stage["train"])
    progress.phase(f"{prefix}fine_tune{key}", lambda again: _jepaworld(*tune, *_going_on(again, tuned)))
    return tuned


def summarise(name: str, out: Path, seconds: dict, peak_mb: float | None) -> dict:
    results = json.loads((out / "eval" / "results.json").read_text())
    rows = {row["agent"]: row for row in results["rows"]}
    trivial = sum(e["success"] and e["steps"] == 0 for e in results["episodes_detail"]["world_model"])
    return {
        "world": name,
        "env": results["env"],
        "recipe": RECIPES[name],
        "success_rate": results["success_rate"],
        "success_ci95": results["success_ci95"],
        "random_success_rate": results["random_success_rate"],
        "pairs_solved_at_the_start": trivial,
        "mean_final_distance": results["mean_final_distance"],
        "plan_ms_per_step_median": results["plan_ms_per_step_median"],
        "train_steps": results["train_steps"],
        "train_seconds": results["train_seconds"],
        "phase_seconds": seconds,
        "peak_rss_mb": peak_mb,
        "goal_offset": results["goal_offset"],
        "episodes": results["episodes"],
        "rows": list(rows.values()),
        "checkpoint": results["checkpoint"],
        "device": results.get("device", "cpu"),
    }


def markdown(report: dict) -> str:
    low, high = report["success_ci95"]
    goals = f"{report['goal_offset']} data-policy steps ahead" if report["goal_offset"] else "the env's own"
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in report["phase_seconds"].items() if v is not None)
    stopped = report.get("interrupted_phases")
    if stopped:
        seconds += f"; run again after a stop (`--resume`), their times the last attempt's: {', '.join(stopped)}"
    return "\n".join(
        [
            f"# {report['env']}: {report['episodes']} held-out start/goal pairs, goals {goals}",
            "",
            "| agent | success | 95% CI |",
            "|---|---|---|",
            *[
                f"| {r['agent']} | {100 * r['success_rate']:.1f}% | "
                f"[{100 * r['success_ci95'][0]:.1f}, {100 * r['success_ci95'][1]:.1f}] |"
                for r in report["rows"]
            ],
            "",
            f"world model {100 * report['success_rate']:.1f}% [{100 * low:.1f}, {100 * high:.1f}]; "
            f"{report['pairs_solved_at_the_start']} pairs were solved at the start; "
            f"training {report['train_steps']} steps in {report['train_seconds']:.0f} s on {report['device']}; "
            f"{seconds}",
            "",
        ]
    )


def recorded_seconds(name: str, run_dir: Path) -> tuple[dict, list[str]]:
    """A finished recipe run's phase times and interrupted phases, from its ``progress.json`` (as ``run``
    reports them: the training's resumptions added to ``train``); none for a run made before the runner kept one."""
    path = run_dir / "progress.json"
    if not path.exists():
        return {}, []
    state = stored_progress(path, name, "--from-run")
    if state["running"] is not None:
        raise SystemExit(
            f"--from-run: {run_dir} has not finished (its {state['running']} phase was running); "
            f"go on with it: python bench/worlds.py {name} --out {run_dir} --resume"
        )
    seconds = {}
    for phase, value in state["done"].items():
        phase = "train" if phase.startswith("train_resume_") else phase
        seconds[phase] = seconds.get(phase, 0.0) + value
    return seconds, state["interrupted"]


def phase_seconds(pairs: list[str]) -> dict:
    """``["collect=303.5", ...]`` -> ``{"collect": 303.5, ...}``."""
    seconds = {}
    for pair in pairs:
        phase, _, value = pair.partition("=")
        try:
            seconds[phase] = float(value)
        except ValueError:
            raise SystemExit(f"--seconds: expected PHASE=SECONDS such as collect=303.5, got {pair!r}") from None
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("world", choices=sorted(RECIPES))
    parser.add_argument("--out", default=None, help="run directory (default: runs/bench/WORLD)")
    parser.add_argument(
        "--resume", action="store_true", help="go on with the run in --out from where it stopped (its progress.json)"
    )
    parser.add_argument("--from-run", default=None, help="summarise this run directory instead of running")
    parser.add_argument(
        "--seconds",
        nargs="*",
        default=[],
        metavar="PHASE=S",
        help="with --from-run: measured phase times (beside, or instead of, those its progress.json holds)",
    )
    parser.add_argument("--peak-rss-mb", type=float, default=None, help="with --from-run: measured peak memory")
    args = parser.parse_args()
    if args.from_run:
        recorded, interrupted = recorded_seconds(args.world, Path(args.from_run))
        seconds = {**recorded, **phase_seconds(args.seconds)}
        report = summarise(args.world, Path(args.from_run), seconds, args.peak_rss_mb)
        report["interrupted_phases"] = interrupted
    else:
        report = run(args.world, Path(args.out or f"runs/bench/{args.world}"), args.resume)
    target = HERE / "results" / f"world-{args.world}.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    target.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()

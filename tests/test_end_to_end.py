"""collect -> train -> plan on tiny settings, through the public API and the CLI; must beat random."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_tiny_demo_beats_a_random_policy(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jepaworld",
            "demo",
            "two-room",
            "--out",
            str(out),
            "--collect-episodes",
            "120",
            "--train-steps",
            "400",
            "--batch-size",
            "64",
            "--eval-episodes",
            "20",
            "--gifs",
            "1",
            "--no-oracle",
            "--no-progress",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    for key in (
        "env",
        "episodes",
        "success_rate",
        "success_ci95",
        "mean_final_distance",
        "plan_ms_per_step_median",
        "train_seconds",
        "oracle_success_rate",
        "checkpoint",
        "random_success_rate",
    ):
        assert key in results, key
    assert results["episodes"] == 20
    assert results["success_rate"] > results["random_success_rate"] + 0.2, results["rows"]
    assert (out / "results.md").exists() and list(out.glob("*.gif"))
    assert (out / "data.h5").exists() and (out / "run" / "latest").exists()

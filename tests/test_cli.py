import subprocess
import sys

import pytest

from jepaworld.cli.main import build_parser, main


def _help(command: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "jepaworld", command, "--help"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("command", ["collect", "train", "eval", "demo", "bench"])
def test_every_option_has_help(command):
    text = _help(command)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and "(default:" in action.help, action.option_strings
            assert action.option_strings[0] in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["collect", "--episodes", "0"], "episodes must be >= 1, got 0"),
        (["collect", "--workers", "0"], "workers must be >= 1, got 0"),
        (["train", "--cache-mb", "0"], "cache_mb must be >= 1, got 0"),
        (["train", "--sigreg-bank", "-1"], "sigreg_bank must be >= 0, got -1"),
        (
            ["collect", "--env", "jepaworld/Cube-v1", "--env-kwargs", '{"marker": "arrow"}', "--episodes", "1"],
            "Cube marker must be one of ['half', 'stripe'], got 'arrow'",
        ),
        (["probe", "--checkpoint", "RUN", "--data", "D", "--supervised-steps", "-1"], "supervised_steps must be >= 0"),
        (["train", "--data", "/nonexistent/data.h5", "--out", "/tmp/jw-never"], "does not exist"),
        (["eval", "--checkpoint", "/nonexistent/run"], "does not exist"),
        (["train", "--batch-size", "2"], "batch_size must be >= 8"),
        (["eval", "--elites", "500", "--samples", "100"], "elites (500) must be <= samples (100)"),
        (["eval", "--planner", "astar"], "planner must be one of ['cem', 'icem', 'mppi', 'gradient'], got 'astar'"),
        (["eval", "--mppi-temperature", "0"], "mppi_temperature must be > 0, got 0.0"),
        (["eval", "--energy", "foo"], "energy must be one of ['min', 'running', 'terminal'], got 'foo'"),
        (["eval", "--action-penalty", "-1"], "action_penalty must be >= 0, got -1.0"),
        (["eval", "--goal-offset", "-1"], "goal_offset must be >= 0, got -1"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_demo_is_rejected():
    result = subprocess.run([sys.executable, "-m", "jepaworld", "demo", "three-room"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_demo_refuses_to_overwrite_an_earlier_demo(tmp_path, capsys):
    (tmp_path / "results.json").write_text("{}")
    assert main(["demo", "two-room", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "already holds a demo" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_text() == "{}"  # nothing stored is touched

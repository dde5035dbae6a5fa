import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jepaworld.data import CollectConfig, collect
from jepaworld.models import build_world_model
from jepaworld.train import CheckpointInfo, TrainConfig, load_checkpoint, save_checkpoint, train

from .conftest import PATCH_MODEL, TINY_MODEL


@pytest.mark.parametrize("config", [TINY_MODEL, PATCH_MODEL], ids=["vector", "patches"])
def test_save_load_gives_identical_outputs(config, tmp_path):
    torch.manual_seed(0)
    model = build_world_model(config).eval()
    info = CheckpointInfo(
        path=tmp_path, model=config, env_id="jepaworld/TwoRoom-v0", action_low=[-1, -1], action_high=[1, 1], step=7
    )
    path = save_checkpoint(tmp_path, model, info)
    loaded, loaded_info = load_checkpoint(tmp_path)  # a run directory resolves to its latest checkpoint
    assert loaded_info.path == path and loaded_info.step == 7 and loaded_info.model == config
    frames = torch.randint(0, 255, (2, 3, 3, 64, 64), dtype=torch.uint8)
    actions = torch.randn(2, 4, config.action_dim)
    with torch.no_grad():
        z, z2 = model.encode(frames), loaded.encode(frames)
        assert torch.equal(z, z2)
        assert torch.equal(model.rollout(z[:, 0], actions), loaded.rollout(z2[:, 0], actions))
    assert not list(tmp_path.rglob("*.tmp-*"))  # nothing half-written left behind
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.pkl"))


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="neither a checkpoint directory"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="expected 'jepaworld-checkpoint'"):
        load_checkpoint(tmp_path)


def _train_args(data, out, steps):
    return [
        sys.executable,
        "-m",
        "jepaworld",
        "train",
        "--data",
        data,
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--batch-size",
        "16",
        "--checkpoint-every",
        "5",
        "--no-progress",
        "--encoder-width",
        "8",
        "--predictor-width",
        "32",
        "--latent-dim",
        "16",
        "--history",
        "2",
        "--frameskip",
        "2",
        "--sigreg-projections",
        "32",
        "--device",
        "cpu",
    ]


def _latest_step(run) -> int:
    try:
        return int((run / "latest").read_text().strip().rsplit("_", 1)[1])
    except (FileNotFoundError, IndexError, ValueError):
        return -1


def test_kill_and_resume_matches_an_uninterrupted_run(tiny_data, tmp_path):
    steps = 30
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run(_train_args(tiny_data, straight, steps), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_args(tiny_data, killed, 100_000), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    # Wait on the pointer, not the directory: the step's directory is renamed into place a moment
    # before ``latest`` is moved onto it, and a kill between the two leaves ``latest`` one behind.
    while time.monotonic() < deadline and _latest_step(killed) < 10:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _latest_step(killed) >= 10
    # Resume the killed run, now with the same total as the uninterrupted one.
    result = subprocess.run(
        [*_train_args(tiny_data, killed, steps), "--resume"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout
    a = load_file(straight / (straight / "latest").read_text().strip() / "model.safetensors")
    b = load_file(killed / (killed / "latest").read_text().strip() / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_training_refuses_to_clobber_a_run(tiny_data, tmp_path):
    cfg = TrainConfig(data=tiny_data, out=str(tmp_path / "run"), steps=2, batch_size=8, progress=False)
    train(cfg, TINY_MODEL)
    assert (tmp_path / "run" / "tensorboard").is_dir()
    assert any(p.name.startswith("events.out.tfevents") for p in Path(tmp_path / "run" / "tensorboard").iterdir())
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, TINY_MODEL)


def test_init_from_starts_a_fine_tune_from_the_whole_model(tiny_data, tmp_path):
    base = TrainConfig(data=tiny_data, out=str(tmp_path / "base"), steps=3, batch_size=8, progress=False, seed=5)
    train(base, TINY_MODEL)
    source, _ = load_checkpoint(tmp_path / "base")
    # A loss-only change (the bank, the weight) is allowed.
    tuned_model = dataclasses.replace(TINY_MODEL, sigreg_bank=64, sigreg_weight=0.05)
    tune = dataclasses.replace(
        base, out=str(tmp_path / "tune"), init_from=str(tmp_path / "base"), steps=1, lr=1e-9, seed=0
    )
    train(tune, tuned_model)
    tuned, info = load_checkpoint(tmp_path / "tune")
    assert info.step == 1 and info.model.sigreg_bank == 64 and info.model.sigreg_weight == 0.05
    for part in ("encoder", "projector", "predictor"):  # seeds 5 and 0: a fresh init would differ
        a, b = dict(getattr(source, part).named_parameters()), dict(getattr(tuned, part).named_parameters())
        for key in a:  # lr 1e-9: one step leaves the copied weights within float noise
            assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), (part, key)
    # An architecture change is refused, naming the field.
    wider = dataclasses.replace(TINY_MODEL, predictor_width=64)
    with pytest.raises(ValueError, match=r"--init-from .*predictor_width: 32 there, 64 here"):
        train(dataclasses.replace(tune, out=str(tmp_path / "wider")), wider)
    assert not (tmp_path / "wider").exists()
    with pytest.raises(ValueError, match="not both"):
        dataclasses.replace(tune, init_encoder=str(tmp_path / "base"))


@pytest.mark.parametrize(
    "config",
    [TINY_MODEL, PATCH_MODEL, dataclasses.replace(PATCH_MODEL, predictor="cells")],
    ids=["transformer", "conv", "cells"],
)
def test_init_from_grows_a_deeper_predictor_that_starts_as_the_shallower_one(config, tiny_data, tmp_path, capsys):
    """--init-from with a deeper --predictor-depth: the source's blocks load first, the others start as the
    identity, so before training the deeper model imagines exactly what the source does."""
    base = TrainConfig(data=tiny_data, out=str(tmp_path / "base"), steps=3, batch_size=8, progress=False, seed=5)
    train(base, config)
    deeper = dataclasses.replace(config, predictor_depth=config.predictor_depth + 2)
    grow = dataclasses.replace(base, out=str(tmp_path / "grown"), init_from=base.out, steps=1, lr=1e-12, seed=0)
    train(grow, deeper)
    assert "2 predictor blocks loaded, 2 more start as the identity" in capsys.readouterr().out
    (source, _), (grown, info) = load_checkpoint(tmp_path / "base"), load_checkpoint(tmp_path / "grown")
    assert info.model.predictor_depth == 4 and len(grown.predictor.blocks) == 4
    source.eval()
    grown.eval()
    torch.manual_seed(1)
    z, actions = torch.randn(3, config.latent_dim), torch.randn(3, 5, config.action_dim)
    with torch.no_grad():
        assert torch.allclose(source.rollout(z, actions), grown.rollout(z, actions), atol=1e-5)
    # Shallower than the source, or deeper for a predictor whose blocks do not start as the identity: refused.
    with pytest.raises(ValueError, match=r"--init-from .*predictor_depth: 2 there, 1 here"):
        shallower = dataclasses.replace(config, predictor_depth=1)
        train(dataclasses.replace(grow, out=str(tmp_path / "shallower")), shallower)
    mlp = dataclasses.replace(TINY_MODEL, predictor="mlp")
    train(dataclasses.replace(base, out=str(tmp_path / "mlp")), mlp)
    with pytest.raises(ValueError, match=r"--init-from .*predictor_depth: 2 there, 3 here"):
        tune = dataclasses.replace(grow, out=str(tmp_path / "mlp3"), init_from=str(tmp_path / "mlp"))
        train(tune, dataclasses.replace(mlp, predictor_depth=3))
    assert not (tmp_path / "shallower").exists() and not (tmp_path / "mlp3").exists()


def test_a_resumed_run_keeps_its_init_and_refuses_another(tiny_data, tmp_path):
    base = TrainConfig(data=tiny_data, out=str(tmp_path / "base"), steps=2, batch_size=8, progress=False)
    train(base, TINY_MODEL)
    tune = dataclasses.replace(base, out=str(tmp_path / "tune"), init_from=str(tmp_path / "base"))
    train(tune, TINY_MODEL)
    # The same command re-run with --resume, or --resume alone, goes on and still records where it started.
    train(dataclasses.replace(tune, steps=3, resume=True), TINY_MODEL)
    train(dataclasses.replace(tune, steps=4, resume=True, init_from=""), TINY_MODEL)
    _, info = load_checkpoint(tmp_path / "tune")
    assert info.step == 4 and info.extra["train_config"]["init_from"] == str(tmp_path / "base")
    # Another start, or one for a run that had none, would be silently ignored: it is an error instead.
    with pytest.raises(ValueError, match=r"--init-from .*started from .*base; a resumed run keeps its weights"):
        train(dataclasses.replace(tune, steps=5, resume=True, init_from=str(tmp_path / "tune")), TINY_MODEL)
    with pytest.raises(ValueError, match=r"--init-encoder .*started from its own initialisation"):
        train(dataclasses.replace(base, steps=5, resume=True, init_encoder=str(tmp_path / "tune")), TINY_MODEL)
    assert load_checkpoint(tmp_path / "tune")[1].step == 4 and load_checkpoint(tmp_path / "base")[1].step == 2


def test_freeze_encoder_trains_the_predictor_alone(tiny_data, tmp_path, capsys):
    """--freeze-encoder: the encoder and projector come out bit for bit as they went in, the predictor
    learns (here with a rollout longer than the history); a resumed run stays frozen."""
    base = TrainConfig(data=tiny_data, out=str(tmp_path / "base"), steps=2, batch_size=8, progress=False)
    train(base, TINY_MODEL)
    source, _ = load_checkpoint(tmp_path / "base")
    frozen = dataclasses.replace(
        base, out=str(tmp_path / "frozen"), init_from=str(tmp_path / "base"), freeze_encoder=True, steps=3
    )
    long_rollout = dataclasses.replace(TINY_MODEL, rollout_steps=4)  # windows of 6 frames at history 2
    train(frozen, long_rollout)
    assert "frames encoded once" in capsys.readouterr().out
    train(dataclasses.replace(frozen, steps=4, resume=True, freeze_encoder=False, init_from=""), long_rollout)
    tuned, info = load_checkpoint(tmp_path / "frozen")
    assert info.step == 4 and info.extra["train_config"]["freeze_encoder"] and info.model.rollout_steps == 4
    for part in ("encoder", "projector"):
        a, b = getattr(source, part).state_dict(), getattr(tuned, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), part  # batch-norm statistics included
    a, b = source.predictor.state_dict(), tuned.predictor.state_dict()
    assert not all(torch.equal(a[k], b[k]) for k in a)
    # Nothing to keep fixed, or a run that trains its encoder resumed frozen: clear errors.
    with pytest.raises(ValueError, match="--freeze-encoder keeps a trained encoder fixed: pass its checkpoint"):
        train(dataclasses.replace(base, out=str(tmp_path / "none"), freeze_encoder=True), TINY_MODEL)
    assert not (tmp_path / "none").exists()
    with pytest.raises(ValueError, match=r"--freeze-encoder: the run in .* trains its encoder too"):
        train(dataclasses.replace(base, steps=3, resume=True, freeze_encoder=True), TINY_MODEL)
    with pytest.raises(ValueError, match=r"window of 22 frames .*--rollout-steps 20 takes windows of 20 \+ 2"):
        train(
            dataclasses.replace(frozen, out=str(tmp_path / "long")), dataclasses.replace(TINY_MODEL, rollout_steps=20)
        )
    assert not (tmp_path / "long").exists()
    assert load_checkpoint(tmp_path / "base")[1].step == 2


def test_init_encoder_refuses_an_encoder_of_another_shape(tiny_data, tmp_path):
    base = TrainConfig(data=tiny_data, out=str(tmp_path / "base"), steps=2, batch_size=8, progress=False)
    train(base, TINY_MODEL)
    other = dataclasses.replace(base, out=str(tmp_path / "other"), init_encoder=str(tmp_path / "base"))
    with pytest.raises(ValueError, match=r"--init-encoder .*its encoder does not fit.*latent_dim: 16 there, 32 here"):
        train(other, dataclasses.replace(TINY_MODEL, latent_dim=32))
    assert not (tmp_path / "other").exists()
    # The predictor may differ: only the encoder and projector are copied.
    train(other, dataclasses.replace(TINY_MODEL, predictor_width=64))
    _, info = load_checkpoint(tmp_path / "other")
    assert info.step == 2 and info.model.predictor_width == 64


def test_frames_of_another_size_than_the_model_reads_are_a_clear_error(tiny_data, tmp_path):
    small = dataclasses.replace(TINY_MODEL, image_size=32)
    cfg = TrainConfig(data=tiny_data, out=str(tmp_path / "run"), steps=2, batch_size=8, progress=False)
    with pytest.raises(ValueError, match=r"expected frames of 32 x 32 x 3 .* got 64 x 64 x 3; pass --image-size 64"):
        train(cfg, small)
    assert not (tmp_path / "run").exists()
    # Resuming a 64-pixel run on 32-pixel frames is refused too, and the run is left as it was.
    train(cfg, TINY_MODEL)
    data32 = collect(CollectConfig(episodes=2, steps=10, image_size=32, out=str(tmp_path / "d32.h5"), progress=False))
    with pytest.raises(ValueError, match=r"got 32 x 32 x 3; the run in .*run reads 64-pixel frames"):
        train(dataclasses.replace(cfg, data=str(data32), steps=4, resume=True), TINY_MODEL)
    assert load_checkpoint(tmp_path / "run")[1].step == 2

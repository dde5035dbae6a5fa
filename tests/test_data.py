import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from jepaworld.data import (
    HELD_OUT_SEED_BASE,
    CollectConfig,
    EpisodeFile,
    EpisodeFileError,
    EpisodeWriter,
    WindowDataset,
    collect,
)


def test_round_trip_metadata_and_rows(tiny_data):
    with EpisodeFile(tiny_data) as f:
        meta = f.metadata
        assert meta["env_id"] == "jepaworld/TwoRoom-v0"
        assert meta["format"] == "jepaworld-episodes" and meta["seed"] == 3
        assert meta["action_low"] == [-1.0, -1.0] and meta["action_high"] == [1.0, 1.0]
        assert "jepaworld_version" in meta
        assert f.num_episodes == 12 and f.num_frames == 12 * 31
        ep = f.episode(5)
        assert ep["frames"].shape == (31, 64, 64, 3) and ep["frames"].dtype == np.uint8
        assert ep["actions"].shape == (30, 2) and ep["state"].shape == (31, 2)
        # The frames are what the env renders for the stored state.
        from jepaworld.envs import TwoRoomPhysics

        assert np.array_equal(TwoRoomPhysics().render(ep["state"][:3]), ep["frames"][:3])


def test_windows_match_raw_rows(tiny_data):
    ds = WindowDataset(tiny_data, num_frames=3, frameskip=2)
    item = ds[7]
    start = int(ds.starts[7])
    raw = EpisodeFile(tiny_data)
    frames = raw.rows("frames", start, start + 5)
    actions = raw.rows("actions", start, start + 4)
    assert item["frames"].shape == (3, 3, 64, 64)
    assert np.array_equal(item["frames"][1].permute(1, 2, 0).numpy(), frames[2])
    assert np.array_equal(item["actions"][0].numpy(), actions[0:2].reshape(-1))
    assert np.array_equal(item["actions"][1].numpy(), actions[2:4].reshape(-1))


def test_windows_never_cross_episodes(tiny_data):
    ds = WindowDataset(tiny_data, num_frames=4, frameskip=5)
    ends = ds.file.episode_ends
    for start in ds.starts:
        episode_end = ends[np.searchsorted(ends, start, side="right")]
        assert start + ds.span <= episode_end
    batch = ds.sample(16, np.random.default_rng(0))
    assert batch["frames"].shape == (16, 4, 3, 64, 64) and batch["actions"].shape == (16, 3, 10)


def test_in_memory_windows_give_the_same_batches(tiny_data):
    on_disk = WindowDataset(tiny_data, num_frames=4, frameskip=5, episodes=np.arange(2, 12), cache_mb=0)
    in_memory = WindowDataset(tiny_data, num_frames=4, frameskip=5, episodes=np.arange(2, 12))
    assert not on_disk.in_memory and in_memory.in_memory
    for seed in range(3):
        a, b = on_disk.sample(32, np.random.default_rng(seed)), in_memory.sample(32, np.random.default_rng(seed))
        assert a.keys() == b.keys() == {"frames", "actions", "state"}
        for key in a:
            assert torch.equal(a[key], b[key]) and b[key].is_contiguous(), key
    for i in (0, 7, len(on_disk) - 1):
        assert all(torch.equal(on_disk[i][key], in_memory[i][key]) for key in on_disk[i])


def test_encoded_windows_hold_the_latents_of_the_same_frames(tiny_data):
    """encode_frames: batches then carry each window's latents, those of the frames it held, either way the
    frames were kept (in memory or read from disk)."""

    def encode(frames):  # a stand-in encoder: each frame's mean colour and its first pixel, [N, 4]
        x = torch.from_numpy(frames).float()
        return torch.cat([x.mean((1, 2, 3)).unsqueeze(-1), x[:, 0, 0, :3]], dim=-1)

    ref = WindowDataset(tiny_data, num_frames=4, frameskip=5, episodes=np.arange(2, 12))
    for cache_mb in (0, 1024):
        data = WindowDataset(tiny_data, num_frames=4, frameskip=5, episodes=np.arange(2, 12), cache_mb=cache_mb)
        assert data.encode_frames(encode, chunk=7) == 10 * 31  # chunks smaller than an episode
        for seed in range(2):
            a, b = ref.sample(16, np.random.default_rng(seed)), data.sample(16, np.random.default_rng(seed))
            assert b.keys() == {"latents", "actions", "state"}
            frames = a["frames"].flatten(0, 1).permute(0, 2, 3, 1).numpy()  # [B * T, H, W, C]
            assert torch.equal(b["latents"], encode(frames).view(16, 4, 4))
            assert torch.equal(a["actions"], b["actions"]) and torch.equal(a["state"], b["state"])


def test_training_says_when_the_frames_do_not_fit_in_memory(tiny_data, tmp_path, capsys):
    from jepaworld.train import TrainConfig, train

    from .conftest import TINY_MODEL

    config = TrainConfig(data=tiny_data, out=str(tmp_path / "run"), steps=1, batch_size=8, progress=False, cache_mb=1)
    train(config, TINY_MODEL)
    out = capsys.readouterr().out
    notice = re.search(r"than --cache-mb 1; reading them from disk, .*--cache-mb (\d+) or more", out)
    assert notice, "no notice"
    train(dataclasses.replace(config, out=str(tmp_path / "fits"), cache_mb=int(notice[1])), TINY_MODEL)
    assert "reading them from disk" not in capsys.readouterr().out


def test_collection_seeds_stay_below_held_out_block():
    with pytest.raises(ValueError, match="held-out"):
        CollectConfig(seed=HELD_OUT_SEED_BASE // 100_000)


def test_parallel_collection_writes_the_same_file(tiny_data, tmp_path):
    path = collect(CollectConfig(episodes=12, steps=30, seed=3, out=str(tmp_path / "p.h5"), progress=False, workers=3))
    with EpisodeFile(tiny_data) as one, EpisodeFile(path) as three:
        assert {**one.metadata, "created": None} == {**three.metadata, "created": None}
        for key in ("frames", "actions", "state"):
            assert np.array_equal(one.rows(key, 0, one.num_frames), three.rows(key, 0, three.num_frames)), key
    with h5py.File(tiny_data) as one, h5py.File(path) as three:
        assert np.array_equal(one["episode_seeds"][:], three["episode_seeds"][:])
        assert np.array_equal(one["episode_ends"][:], three["episode_ends"][:])


BROKEN_ENV = """
import gymnasium as gym
import numpy as np


class Breaks(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}
    observation_space = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, render_mode="rgb_array"):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed == 5:
            raise RuntimeError("episode 5 breaks")
        return self.render(), {}

    def step(self, action):
        return self.render(), 0.0, False, False, {}

    def render(self):
        return np.zeros((16, 16, 3), np.uint8)
"""


def test_a_worker_error_stops_collection_and_publishes_nothing(tmp_path):
    (tmp_path / "breaks.py").write_text(BROKEN_ENV)
    out = tmp_path / "b.h5"
    config = CollectConfig(env=f"{tmp_path / 'breaks.py'}:Breaks", episodes=8, steps=3, out=str(out), workers=2)
    with pytest.raises(RuntimeError, match="episode 5 breaks"):
        collect(dataclasses.replace(config, progress=False))
    assert not out.exists() and not out.with_name("b.h5.partial").exists()
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        dataclasses.replace(config, workers=0)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EpisodeFile(tmp_path / "nope.h5")


def test_file_of_another_format(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("hello, not HDF5")
    with pytest.raises(EpisodeFileError, match="not an HDF5 file"):
        EpisodeFile(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(EpisodeFileError, match="not a jepaworld episode file"):
        EpisodeFile(other)


def _copy_with(tiny_data, tmp_path, edit) -> str:
    path = tmp_path / "edited.h5"
    path.write_bytes(Path(tiny_data).read_bytes())
    with h5py.File(path, "a") as f:
        edit(f)
    return str(path)


def test_missing_key(tiny_data, tmp_path):
    path = _copy_with(tiny_data, tmp_path, lambda f: f.__delitem__("actions"))
    with pytest.raises(EpisodeFileError, match=r"missing dataset /actions"):
        EpisodeFile(path)


def test_mismatched_lengths(tiny_data, tmp_path):
    path = _copy_with(tiny_data, tmp_path, lambda f: f["actions"].resize(100, axis=0))
    with pytest.raises(EpisodeFileError, match=r"/actions has 100 rows but /frames has 372"):
        EpisodeFile(path)


def test_bad_episode_ends(tiny_data, tmp_path):
    def edit(f):
        f["episode_ends"][-1] = 10

    with pytest.raises(EpisodeFileError, match="episode_ends"):
        EpisodeFile(_copy_with(tiny_data, tmp_path, edit))


def test_truncated_file(tiny_data, tmp_path):
    data = Path(tiny_data).read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EpisodeFileError, match=str(path.name)):
        EpisodeFile(path)


def test_writer_refuses_to_overwrite(tiny_data):
    with pytest.raises(FileExistsError, match="already exists"):
        collect(CollectConfig(episodes=1, steps=2, out=tiny_data, progress=False))


def test_failed_collection_publishes_nothing(tmp_path):
    path = tmp_path / "x.h5"
    with (
        pytest.raises(RuntimeError),
        EpisodeWriter(
            path,
            frame_shape=(64, 64, 3),
            action_dim=2,
            state_dim=0,
            env_id="e",
            action_low=[-1],
            action_high=[1],
            seed=0,
        ) as w,
    ):
        w.add_episode(np.zeros((3, 64, 64, 3), np.uint8), np.zeros((2, 2), np.float32), None, 0)
        raise RuntimeError("interrupted")
    assert not path.exists() and not path.with_name("x.h5.partial").exists()


def test_killed_collection_leaves_no_complete_looking_file(tmp_path):
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jepaworld",
            "collect",
            "--episodes",
            "100000",
            "--steps",
            "50",
            "--out",
            str(path),
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    partial = path.with_name("killed.h5.partial")
    deadline = time.monotonic() + 60
    while not partial.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not path.exists()
    with pytest.raises(FileNotFoundError, match="did not finish"):
        EpisodeFile(path)

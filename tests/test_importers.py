"""Importers on small datasets the tests write in the formats they read: LeRobot v2.1 and v3.0, Minari."""

import json

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jepaworld.cli.main import main
from jepaworld.data import EpisodeFile
from jepaworld.data.lerobot import DatasetError, LeRobotImportConfig, import_lerobot
from jepaworld.data.minari import MinariImportConfig, import_minari
from jepaworld.data.videos import write_video

FPS = 10
CAMERA = "observation.images.top"
LENGTHS = (12, 9, 15)


def _frames(episode: int, length: int) -> np.ndarray:
    """Distinct 64 x 64 frames: a bright square that moves one step right per frame, colour by episode."""
    frames = np.zeros((length, 64, 64, 3), np.uint8)
    for t in range(length):
        frames[t, 20:30, 2 + 3 * t : 12 + 3 * t] = (60 + 60 * episode, 200, 255 - 40 * episode)
    return frames


def _rows(episode: int, length: int, start_index: int) -> dict[str, list]:
    rng = np.random.default_rng(episode)
    return {
        "action": (rng.uniform(-5, 5, (length, 2)) * [1, 0.1]).tolist(),  # ranges [-5, 5] and [-0.5, 0.5]
        "observation.state": rng.normal(size=(length, 3)).tolist(),
        "timestamp": (np.arange(length) / FPS).tolist(),
        "frame_index": list(range(length)),
        "episode_index": [episode] * length,
        "index": list(range(start_index, start_index + length)),
    }


def _info(version: str, data_path: str, video_path: str) -> dict:
    return {
        "codebase_version": version,
        "fps": FPS,
        "total_episodes": len(LENGTHS),
        "chunks_size": 1000,
        "data_path": data_path,
        "video_path": video_path,
        "features": {
            "action": {"dtype": "float32", "shape": [2], "names": ["x", "y"]},
            "observation.state": {"dtype": "float32", "shape": [3], "names": ["a", "b", "c"]},
            CAMERA: {"dtype": "video", "shape": [64, 64, 3], "names": ["height", "width", "channel"]},
            "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        },
    }


def write_lerobot_v21(root):
    (root / "meta").mkdir(parents=True)
    info = _info(
        "v2.1",
        "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
    )
    (root / "meta" / "info.json").write_text(json.dumps(info))
    start = 0
    for e, length in enumerate(LENGTHS):
        names = {"episode_chunk": 0, "episode_index": e, "video_key": CAMERA}
        table = root / info["data_path"].format(**names)
        table.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(_rows(e, length, start)), table)
        write_video(root / info["video_path"].format(**names), _frames(e, length), FPS)
        start += length
    return root


def write_lerobot_v30(root):
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    info = _info(
        "v3.0",
        "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
    )
    (root / "meta" / "info.json").write_text(json.dumps(info))
    rows, meta, start = {}, [], 0
    for e, length in enumerate(LENGTHS):
        for key, values in _rows(e, length, start).items():
            rows.setdefault(key, []).extend(values)
        meta.append(
            {
                "episode_index": e,
                "length": length,
                "data/chunk_index": 0,
                "data/file_index": 0,
                f"videos/{CAMERA}/chunk_index": 0,
                f"videos/{CAMERA}/file_index": 0,
                f"videos/{CAMERA}/from_timestamp": start / FPS,
                f"videos/{CAMERA}/to_timestamp": (start + length) / FPS,
            }
        )
        start += length
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(rows), root / "data" / "chunk-000" / "file-000.parquet")
    pq.write_table(pa.Table.from_pylist(meta), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    frames = np.concatenate([_frames(e, n) for e, n in enumerate(LENGTHS)])
    write_video(root / "videos" / CAMERA / "chunk-000" / "file-000.mp4", frames, FPS)
    return root


@pytest.mark.parametrize("writer", [write_lerobot_v21, write_lerobot_v30])
def test_lerobot_datasets_import_frame_for_frame_with_normalised_actions(tmp_path, writer):
    root = writer(tmp_path / "dataset")
    out = tmp_path / "episodes.h5"
    summary = import_lerobot(LeRobotImportConfig(path=str(root), out=str(out), progress=False))
    assert summary == {"path": str(out), "episodes": 3, "frames": sum(LENGTHS), "camera": CAMERA}
    with EpisodeFile(out) as f:
        assert f.num_episodes == 3 and list(f.episode_ends) == list(np.cumsum(LENGTHS))
        extra = f.metadata["extra"]
        norm = extra["action_normalisation"]
        assert extra["fps"] == FPS and extra["state_names"] == ["a", "b", "c"] and norm["names"] == ["x", "y"]
        for e, length in enumerate(LENGTHS):
            episode = f.episode(e)
            np.testing.assert_array_equal(episode["frames"], _frames(e, length))  # each frame at its timestamp
            raw = np.array(_rows(e, length, 0)["action"][:-1])
            np.testing.assert_allclose(norm["centre"] + episode["actions"] * np.array(norm["scale"]), raw, atol=1e-5)
            np.testing.assert_allclose(episode["state"], _rows(e, length, 0)["observation.state"], atol=1e-6)
        all_actions = f.rows("actions", 0, f.num_frames)
        assert all_actions.min() >= -1 and all_actions.max() <= 1 and np.isclose(np.abs(all_actions).max(), 1)


def test_a_missing_video_fails_the_import_and_writes_nothing(tmp_path, capsys):
    root = write_lerobot_v21(tmp_path / "dataset")
    (root / "videos" / "chunk-000" / CAMERA / "episode_000002.mp4").unlink()
    out = tmp_path / "episodes.h5"
    assert main(["data", "import-lerobot", str(root), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "episode 2: video" in err and "episode_000002.mp4 is missing" in err
    assert not out.exists() and not (tmp_path / "episodes.h5.partial").exists()


def test_timestamps_that_do_not_match_the_video_are_named(tmp_path):
    root = write_lerobot_v21(tmp_path / "dataset")
    table = root / "data" / "chunk-000" / "episode_000001.parquet"
    rows = pq.read_table(table).to_pydict()
    rows["timestamp"] = [t + 0.35 for t in rows["timestamp"]]  # the table runs past the video's end
    pq.write_table(pa.table(rows), table)
    out = tmp_path / "episodes.h5"
    with pytest.raises(DatasetError, match=r"episode 1 \(observation.images.top\): .* ends before timestamp"):
        import_lerobot(LeRobotImportConfig(path=str(root), out=str(out), progress=False))
    assert not out.exists() and not (tmp_path / "episodes.h5.partial").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda info: info.update(codebase_version="v1.6"), "codebase_version 'v1.6'; jepaworld imports"),
        (lambda info: info["features"].pop(CAMERA), "the dataset has no video feature"),
        (lambda info: info["features"].pop("action"), "no action feature 'action'"),
    ],
)
def test_a_dataset_jepaworld_cannot_read_says_why(tmp_path, change, message):
    root = write_lerobot_v21(tmp_path / "dataset")
    info = json.loads((root / "meta" / "info.json").read_text())
    change(info)
    (root / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=message):
        import_lerobot(LeRobotImportConfig(path=str(root), out=str(tmp_path / "x.h5"), progress=False))
    assert not (tmp_path / "x.h5").exists()


def write_minari(root, version=">=0.4.0", image=True):
    (root / "data").mkdir(parents=True)
    (root / "metadata.json").write_text(json.dumps({"dataset_id": "test/pixels-v0", "minari_version": version}))
    with h5py.File(root / "data" / "main_data.hdf5", "w") as f:
        for e, length in enumerate(LENGTHS):
            group = f.create_group(f"episode_{e}")
            group.attrs["seed"] = 100 + e
            obs = group.create_group("observations")
            if image:
                obs["pixels"] = np.pad(_frames(e, length), ((0, 0), (8, 8), (0, 0), (0, 0)))  # 80 x 64: cropped
            obs["state"] = np.arange(length * 2, dtype=np.float64).reshape(length, 2)
            group["actions"] = np.linspace(-3, 3, (length - 1) * 2).reshape(length - 1, 2)
            group["rewards"] = np.zeros(length - 1)
    return root


def test_minari_datasets_import_with_their_image_and_state(tmp_path):
    root = write_minari(tmp_path / "minari")
    out = tmp_path / "episodes.h5"
    argv = ["data", "import-minari", str(root), "--state-key", "state", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    with EpisodeFile(out) as f:
        assert f.num_episodes == 3 and f.num_frames == sum(LENGTHS) and f.env_id == "minari:test/pixels-v0"
        episode = f.episode(1)
        np.testing.assert_array_equal(episode["frames"], _frames(1, LENGTHS[1]))  # the centred square
        np.testing.assert_array_equal(episode["state"][:, 0], np.arange(0, 2 * LENGTHS[1], 2))
        assert list(f._file["episode_seeds"][:]) == [100, 101, 102]
        assert f.metadata["extra"]["image_key"] == "pixels"
        assert f.metadata["extra"]["action_normalisation"]["raw_low"] == [
            -3.0,
            pytest.approx(-3 + 6 / (2 * (max(LENGTHS) - 1) - 1)),
        ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"version": "~=0.3.0"}, "a dataset for Minari ~=0.3.0; jepaworld reads the layout of Minari"),
        ({"image": False}, r"expected one image observation \[L\+1, H, W, 3\] uint8"),
    ],
)
def test_a_minari_dataset_jepaworld_cannot_read_says_why(tmp_path, kwargs, message):
    root = write_minari(tmp_path / "minari", **kwargs)
    with pytest.raises(DatasetError, match=message):
        import_minari(MinariImportConfig(path=str(root), out=str(tmp_path / "x.h5"), progress=False))
    assert not (tmp_path / "x.h5").exists()


def test_a_model_trained_on_imported_data_is_not_evaluated_without_an_env(tmp_path, capsys):
    data = tmp_path / "episodes.h5"
    assert main(["data", "import-minari", str(write_minari(tmp_path / "minari")), "--out", str(data)]) == 0
    model = ["--encoder-width", "8", "--predictor-width", "32", "--latent-dim", "16", "--frameskip", "2"]
    train = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "8"]
    assert main([*train, *model, "--history", "2", "--no-progress", "--device", "cpu"]) == 0
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "eval")]) == 2
    assert "was trained on imported data (minari:test/pixels-v0), not on an env; give --env" in capsys.readouterr().err

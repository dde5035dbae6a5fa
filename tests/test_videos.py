"""Video files: reading at a rate and size, lossless writing, importing a folder (bad files skipped)."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from jepaworld.data import EpisodeFile
from jepaworld.data.videos import VideoError, VideoImportConfig, find_videos, import_videos, read_video, write_video


def _frames(n: int, h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _two_resolutions() -> bytes:
    """An MPEG-TS stream whose resolution changes half-way (concatenated TS streams are valid TS)."""
    out = b""
    for size in (64, 32):
        buf = io.BytesIO()
        with av.open(buf, "w", format="mpegts") as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
            for frame in _frames(10, size, size):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        out += buf.getvalue()
    return out


def test_write_then_read_is_lossless_and_samples_the_rate(tmp_path):
    frames = _frames(30)
    write_video(tmp_path / "a.mp4", frames, fps=15)
    assert np.array_equal(read_video(tmp_path / "a.mp4", size=64), frames)
    assert len(read_video(tmp_path / "a.mp4", size=64, fps=5)) == 10  # every third frame
    assert read_video(tmp_path / "a.mp4", size=16).shape == (30, 16, 16, 3)


def test_non_square_video_is_centre_cropped(tmp_path):
    frames = np.zeros((4, 40, 80, 3), np.uint8)
    frames[:, :, 20:60] = 255  # the centred 40x40 square is white, the sides black
    write_video(tmp_path / "wide.mp4", frames, fps=10)
    out = read_video(tmp_path / "wide.mp4", size=40)
    assert out.shape == (4, 40, 40, 3) and out.min() >= 250


def test_import_skips_bad_videos_counts_them_and_splits_long_ones(tmp_path):
    videos = tmp_path / "videos"
    write_video(videos / "good.mp4", _frames(40, 48, 80), fps=20)
    write_video(videos / "short.mp4", _frames(3), fps=20)
    (videos / "broken.mp4").write_bytes(b"not a video")
    (videos / "empty.webm").write_bytes(b"")
    (videos / "sub").mkdir()
    (videos / "sub" / "changes.ts").write_bytes(_two_resolutions())
    config = VideoImportConfig(fps=10, image_size=32, min_frames=8, episode_frames=8)
    summary = import_videos(videos, tmp_path / "v.h5", config, progress=False)
    assert summary["videos"] == 5 and summary["imported"] == 1
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in summary["skipped"]}
    assert "fewer than --min-frames 8" in reasons["short.mp4"]
    assert "cannot be opened" in reasons["broken.mp4"] and "cannot be opened" in reasons["empty.webm"]
    assert "resolution changes mid-stream" in reasons["changes.ts"]
    with EpisodeFile(tmp_path / "v.h5") as episodes:
        # 20 frames at 10 fps -> 8 + 8 + 4; the 10 frames of changes.ts written before it failed were removed
        assert episodes.num_frames == 20 and episodes.num_episodes == 3
        assert episodes.action_dim == 0 and episodes.frame_shape == (32, 32, 3)
        assert episodes.metadata["extra"]["import"]["imported"] == 1


def test_import_of_only_bad_videos_writes_nothing(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"junk")
    with pytest.raises(VideoError, match="none of 1 videos could be used"):
        import_videos(tmp_path / "videos", tmp_path / "v.h5", VideoImportConfig(), progress=False)
    assert not (tmp_path / "v.h5").exists() and not (tmp_path / "v.h5.partial").exists()


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_videos(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("no videos here")
    with pytest.raises(VideoError, match=r"no videos found; expected files ending in \.mp4"):
        find_videos(tmp_path)
    with pytest.raises(ValueError, match="expected frames"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8), np.uint8), fps=10)


def test_pretrain_command_reports_bad_folders(tmp_path, capsys):
    from jepaworld.cli.main import main

    (tmp_path / "empty").mkdir()
    assert main(["pretrain", "--videos", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    assert "no videos found" in capsys.readouterr().err
    assert main(["pretrain", "--videos", str(tmp_path / "missing"), "--out", str(tmp_path / "run")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["physics", "eval", "--checkpoint", str(tmp_path), "--pairs", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "run" / "videos.h5").exists()

"""Video files in and out (PyAV): read frames at a chosen rate and size, write lossless clips,
and import a folder of videos as action-free episodes for pretraining.

Reading streams: one decoded frame at a time is cropped to a centred square and resized, so a long
or high-resolution video never sits in memory whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from jepaworld.config import check, option
from jepaworld.data.episodes import EpisodeWriter
from jepaworld.imaging import square_frame

VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ts")


class VideoError(ValueError):
    """A video that cannot be used; the message names the file and what is wrong with it."""


def find_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files under ``folder`` (recursively, sorted by path) -> a non-empty list."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"video folder {folder} does not exist or is not a directory")
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise VideoError(f"{folder}: no videos found; expected files ending in {', '.join(VIDEO_SUFFIXES)}")
    return videos


def _decode(path: str | os.PathLike, start: float = 0.0) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time in seconds, frame) of the first video stream from about ``start`` on (a seek to the keyframe
    before it). Raises ``VideoError`` for an unreadable file, no video stream, or a resolution change."""
    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise VideoError(f"{path}: cannot be opened as a video ({err})") from err
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: holds no video stream")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        first_shape = None
        try:
            if start > 0 and stream.time_base:
                container.seek(int(start / stream.time_base), stream=stream, backward=True)
            for index, frame in enumerate(container.decode(stream)):
                shape = (frame.width, frame.height)
                if first_shape is None:
                    first_shape = shape
                elif shape != first_shape:
                    raise VideoError(
                        f"{path}: resolution changes mid-stream (frame {index} is {shape[0]}x{shape[1]}, "
                        f"the first was {first_shape[0]}x{first_shape[1]}); expected one resolution"
                    )
                yield (frame.time if frame.time is not None else index / rate), frame
        except av.error.FFmpegError as err:
            raise VideoError(f"{path}: decoding failed ({err})") from err


def iter_frames(path: str | os.PathLike, size: int, fps: float | None = None) -> Iterator[np.ndarray]:
    """Frames ``[size, size, 3]`` uint8 of the first video stream, one every ``1 / fps`` seconds
    (every frame when ``fps`` is None). Raises ``VideoError`` for an unreadable file, a file
    without a video stream, or a resolution that changes mid-stream."""
    next_time = 0.0
    for time, frame in _decode(path):
        if fps is not None:
            if time + 1e-6 < next_time:
                continue
            next_time = max(next_time + 1.0 / fps, time + 0.5 / fps)
        yield square_frame(frame.to_ndarray(format="rgb24"), size)


def frames_at(path: str | os.PathLike, times: np.ndarray, size: int, tolerance: float) -> np.ndarray:
    """The frames shown at increasing ``times`` (seconds) -> ``[len(times), size, size, 3]`` uint8.

    Each time takes the first frame at or after ``time - tolerance``; a ``VideoError`` names the first
    time with no frame within ``tolerance`` of it (timestamps that do not match the video)."""
    times = np.asarray(times, np.float64)
    if len(times) == 0 or np.any(np.diff(times) < 0):
        raise VideoError(f"{path}: expected increasing timestamps, got {len(times)} of them")
    out, i = [], 0
    for time, frame in _decode(path, start=float(times[0]) - tolerance):
        while i < len(times) and time >= times[i] - tolerance:
            if time > times[i] + tolerance:
                raise VideoError(
                    f"{path}: no frame within {tolerance:.4f} s of timestamp {times[i]:.4f} s (the next frame is at "
                    f"{time:.4f} s); the table's timestamps do not match the video"
                )
            out.append(square_frame(frame.to_ndarray(format="rgb24"), size))
            i += 1
        if i == len(times):
            return np.stack(out)
    raise VideoError(
        f"{path}: the video ends before timestamp {times[i]:.4f} s ({i} of {len(times)} frames found); "
        "the table's timestamps do not match the video"
    )


def read_video(path: str | os.PathLike, size: int, fps: float | None = None) -> np.ndarray:
    """A whole video -> ``[T, size, size, 3]`` uint8; ``VideoError`` when it has no frames."""
    frames = list(iter_frames(path, size, fps))
    if not frames:
        raise VideoError(f"{path}: holds no video frames (zero-length video)")
    return np.stack(frames)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Frames ``[T, H, W, 3]`` uint8 -> a lossless H.264 (RGB) video, written under a temporary name first."""
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"write_video: expected frames [T>0, H, W, 3] uint8, got {list(frames.shape)} {frames.dtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264rgb", rate=round(fps), options={"crf": "0", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class VideoImportConfig:
    """How a folder of videos becomes action-free episodes."""

    fps: float = option(10.0, "frames sampled per second of video")
    image_size: int = option(64, "frames are centre-cropped to a square and resized to this many pixels")
    min_frames: int = option(8, "videos with fewer sampled frames are skipped (a clip needs history + 1 frames)")
    episode_frames: int = option(1000, "a longer video is split into episodes of at most this many frames")

    def __post_init__(self) -> None:
        check(self.fps > 0, f"fps must be > 0, got {self.fps}")
        check(self.image_size >= 8, f"image_size must be >= 8, got {self.image_size}")
        check(self.min_frames >= 2, f"min_frames must be >= 2, got {self.min_frames}")
        check(
            self.episode_frames >= self.min_frames,
            f"episode_frames must be >= min_frames ({self.min_frames}), got {self.episode_frames}",
        )


def import_videos(
    folder: str | os.PathLike, out: str | os.PathLike, config: VideoImportConfig, progress: bool = True
) -> dict:
    """Every video under ``folder`` -> one action-free episode file at ``out`` -> a summary.

    Unusable videos (unreadable, zero-length, too short, changing resolution) are skipped and listed
    in the summary and the file's metadata; when none is usable nothing is written.
    """
    videos = find_videos(folder)
    size = config.image_size
    writer = EpisodeWriter(
        out,
        frame_shape=(size, size, 3),
        action_dim=0,
        state_dim=0,
        env_id=f"videos:{Path(folder).resolve()}",
        action_low=[],
        action_high=[],
        seed=0,
        extra={"source": "videos", "fps": config.fps},
    )
    skipped: list[dict[str, str]] = []
    imported = 0
    with writer:
        for index, path in enumerate(tqdm(videos, desc="import", unit="video", disable=not progress)):
            before = writer.num_episodes
            count = 0
            try:
                buffer: list[np.ndarray] = []
                for frame in iter_frames(path, size, config.fps):
                    buffer.append(frame)
                    count += 1
                    if len(buffer) == config.episode_frames:
                        writer.add_episode(np.stack(buffer), np.zeros((len(buffer) - 1, 0), np.float32), None, index)
                        buffer = []
                if count < config.min_frames:
                    raise VideoError(
                        f"{path}: {count} frames at {config.fps:g} fps, fewer than --min-frames {config.min_frames}"
                        if count
                        else f"{path}: holds no video frames (zero-length video)"
                    )
                if len(buffer) >= 2:  # a tail of one frame has no transition to learn from
                    writer.add_episode(np.stack(buffer), np.zeros((len(buffer) - 1, 0), np.float32), None, index)
                imported += 1
            except VideoError as err:
                writer.truncate(before)
                skipped.append({"path": str(path), "reason": str(err)})
        if imported == 0:
            reasons = "; ".join(s["reason"] for s in skipped[:3])
            raise VideoError(f"{folder}: none of {len(videos)} videos could be used ({reasons})")
        summary = {
            "videos": len(videos),
            "imported": imported,
            "skipped": skipped,
            "episodes": writer.num_episodes,
            "frames": writer.num_frames,
        }
        writer.set_extra({"source": "videos", "fps": config.fps, "import": summary})
    summary["path"] = str(writer.path)
    return summary

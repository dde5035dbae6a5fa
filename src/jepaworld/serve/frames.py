"""Frames on the wire: PNG/base64 or raw uint8 bytes with an explicit shape, to and from numpy."""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from jepaworld.serve.schemas import PngFrames, RawFrames

#: Frames per request, whatever their format: a bound on the work one request can ask for.
MAX_FRAMES = 1024


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"{what}: expected base64 text, got something else ({err})") from err


def decode_frames(frames: PngFrames | RawFrames, name: str, size: int) -> np.ndarray:
    """-> ``[T, size, size, 3]`` uint8, or ``ValueError`` saying what was expected and what came."""
    expected = f"RGB frames of {size}x{size} pixels"
    if isinstance(frames, RawFrames):
        t, h, w, c = frames.shape
        if not 1 <= t <= MAX_FRAMES or (h, w, c) != (size, size, 3):
            raise ValueError(
                f"{name}: expected shape [T, {size}, {size}, 3] with 1 <= T <= {MAX_FRAMES}, got {frames.shape}"
            )
        data = _b64(frames.data, name)
        if len(data) != t * h * w * c:
            raise ValueError(f"{name}: shape {frames.shape} of uint8 needs {t * h * w * c} bytes, got {len(data)}")
        return np.frombuffer(data, dtype=np.uint8).reshape(t, h, w, c).copy()
    if len(frames.data) > MAX_FRAMES:
        raise ValueError(f"{name}: at most {MAX_FRAMES} frames per request, got {len(frames.data)}")
    out = []
    for i, text in enumerate(frames.data):
        what = f"{name}[{i}]"
        try:
            with Image.open(io.BytesIO(_b64(text, what))) as image:
                if image.format != "PNG":
                    raise ValueError(f"{what}: expected a PNG image, got {image.format}")
                if image.size != (size, size) or image.mode != "RGB":
                    raise ValueError(f"{what}: expected {expected} (mode RGB), got {image.size} mode {image.mode}")
                out.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
            raise ValueError(f"{what}: expected a PNG image, got bytes that are not one ({err})") from err
    return np.stack(out)


def png_frames(frames: np.ndarray) -> PngFrames:
    """``[T, H, W, 3]`` uint8 -> PNG/base64 frames."""
    data = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(frame), "RGB").save(buffer, format="PNG")
        data.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return PngFrames(format="png", data=data)


def raw_frames(frames: np.ndarray) -> RawFrames:
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    return RawFrames(format="raw", shape=list(frames.shape), data=base64.b64encode(frames.tobytes()).decode("ascii"))


def encode_frames(frames: np.ndarray, fmt: str) -> PngFrames | RawFrames:
    return png_frames(frames) if fmt == "png" else raw_frames(frames)

"""Frames of one size: the centred square crop and resize shared by env pixels and video import."""

from __future__ import annotations

import numpy as np
from PIL import Image


def square_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """``[H, W, 3]`` uint8 -> the centred square crop resized to ``[size, size, 3]`` (bilinear)."""
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = frame[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    return np.array(Image.fromarray(crop).resize((size, size), Image.Resampling.BILINEAR))

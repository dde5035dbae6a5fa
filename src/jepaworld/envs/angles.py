"""Angles in radians: the one wrapping rule every env, policy and measure shares."""

from __future__ import annotations

import numpy as np


def wrap_angle(angle):
    """``angle`` (a number or an array) brought into ``[-pi, pi)``: a difference of angles the short way round."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi

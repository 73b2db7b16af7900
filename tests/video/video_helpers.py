"""Helpers for the video tests: the clock code encoder (the camera's own lives in sitl/camera/;
this one exists only to test the reader) and a real H.264 RTP source."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from groundstation.video import clockcode as cc


def draw_clock(frame: npt.NDArray[np.uint8], ms: int) -> None:
    """Draw the clock code of ``ms`` into an (H, W) grey or (H, W, 3) RGB frame, in place."""
    height = frame.shape[0]
    value = ms % cc.MODULUS
    band_right = cc.ORIGIN_X_PX + cc.BITS * cc.CELL_PX + cc.BAND_PAD_PX
    frame[height - 40 : height - 8, 8:band_right] = 0
    top = height - 32
    for k in range(cc.BITS):
        if (value >> (cc.BITS - 1 - k)) & 1:
            x = cc.ORIGIN_X_PX + k * cc.CELL_PX
            frame[top : top + cc.CELL_PX, x : x + cc.CELL_PX] = 255

"""The frame clock code (docs: VIDEO-DESIGN.md): each frame carries its capture time.

48 cells in one row, 16x16 px each, from x=16, y=H-32, on a black band x=8..16+48*16+8,
y=H-40..H-8; cell k is white (255) when bit 47-k of ``int(t * 1000) % 2**48`` is 1. The reader
(groundstation/video/clockcode.py) samples the central 8x8 px of each cell, threshold 128.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

CELLS = 48
CELL_PX = 16
X0 = 16
MARGIN = 8
MODULUS = 1 << CELLS


def stamp_ms(t_s: float) -> int:
    return int(t_s * 1000) % MODULUS


def draw(image: NDArray[np.uint8], t_s: float) -> None:
    """Draw the code of wall-clock time t_s (seconds) into image (H x W or H x W x C), in place."""
    h, w = image.shape[:2]
    if w < X0 + CELLS * CELL_PX + MARGIN or h < 2 * CELL_PX + MARGIN:
        raise ValueError(f"a {w}x{h} frame is too small for the clock code")
    y0 = h - 2 * CELL_PX
    image[h - 40 : h - 8, X0 - MARGIN : X0 + CELLS * CELL_PX + MARGIN] = 0
    ms = stamp_ms(t_s)
    for k in range(CELLS):
        if (ms >> (CELLS - 1 - k)) & 1:
            x = X0 + k * CELL_PX
            image[y0 : y0 + CELL_PX, x : x + CELL_PX] = 255


def draw_i420(planes: tuple[NDArray[np.uint8], ...], t_s: float) -> None:
    """Draw the code into a Y, U, V picture: on its luma, the band's chroma neutral (grey, as
    the black band of a BGR picture converts)."""
    y = planes[0]
    draw(y, t_s)
    h = y.shape[0]
    x0, x1 = (X0 - MARGIN) // 2, (X0 + CELLS * CELL_PX + MARGIN) // 2
    for chroma in planes[1:]:
        chroma[(h - 40) // 2 : (h - 8) // 2, x0:x1] = 128


def read(image: NDArray[np.uint8]) -> int:
    """The milliseconds encoded in a frame (grey or BGR); for the simulator's own tests."""
    grey = image if image.ndim == 2 else image.mean(axis=2)
    h = grey.shape[0]
    y0 = h - 2 * CELL_PX + 4
    ms = 0
    for k in range(CELLS):
        x = X0 + k * CELL_PX + 4
        ms = (ms << 1) | int(grey[y0 : y0 + 8, x : x + 8].mean() >= 128)
    return ms

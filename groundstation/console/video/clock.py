"""Reading the frame clock code (VIDEO-DESIGN.md) from a decoded picture's luma plane.

A private reader written against the spec until ``groundstation.video.clockcode`` (the relay's)
is merged; then this module delegates to it. 48 cells of 16x16 px in one row from x=16,
y=H-32; cell k is white when bit 47-k of ``int(t * 1000) % 2**48`` is 1; read the mean of each
cell's central 8x8 px against 128; valid within a day of the reader's clock.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CELL_PX = 16
BITS = 48
X0_PX = 16
WRAP = 2**BITS
DAY_MS = 86_400_000
_WEIGHTS = np.array([1 << (BITS - 1 - k) for k in range(BITS)], dtype=np.uint64)


def read_capture_ms(luma: npt.NDArray[np.uint8], now_ms: int) -> int | None:
    """The capture time (Unix ms) coded in a ``H x W`` luma plane, or None when there is none.

    ``luma`` may be a view with any row stride (a decoder's plane); only 8 rows are read.
    """
    h, w = luma.shape
    if h < 40 or w < X0_PX + BITS * CELL_PX:
        return None
    y0 = h - 32 + 4
    band = luma[y0 : y0 + 8, X0_PX : X0_PX + BITS * CELL_PX].astype(np.uint16)
    cells = band.reshape(8, BITS, CELL_PX)[:, :, 4:12].mean(axis=(0, 2))
    bits = (cells > 128).astype(np.uint64)
    coded = int((bits * _WEIGHTS).sum())
    # Unwrap the 48-bit counter to the candidate nearest the reader's clock.
    base = now_ms - (now_ms % WRAP)
    best = min(
        (base - WRAP + coded, base + coded, base + WRAP + coded), key=lambda t: abs(t - now_ms)
    )
    return best if abs(best - now_ms) <= DAY_MS else None

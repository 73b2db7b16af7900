"""The frame clock code: every frame of a drone's video carries its capture time in the picture.

The layout (docs/video.md, fixed by the shared video design):

- 48 cells in one row, each ``CELL_PX`` x ``CELL_PX`` (16x16) px, the row starting at x=16,
  y=H-32 (bottom-left of the picture), on a black band x=8..(16+48*16+8), y=H-40..H-8;
- cell k (k = 0..47) is white (Y=255) when bit (47-k) of ``int(t * 1000) % 2**48`` is 1, black
  otherwise (most significant bit first), t being ``time.time()`` when the frame was rendered.

Reading: convert to grey, take the mean of the central 8x8 px of each cell, threshold 128. The
decoded milliseconds are valid when within one day of the reader's clock: anything else (a frame
without the code, a damaged frame) reads as ``None``. The encoder lives with the camera in
``sitl/camera/`` (sitl does not import the ground station); this module only reads.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

__all__ = [
    "BAND_PAD_PX",
    "BITS",
    "CELL_PX",
    "MODULUS",
    "ORIGIN_X_PX",
    "VALID_WITHIN_MS",
    "ClockCodeError",
    "decode_ms",
    "latency_ms",
    "read_raw",
    "to_grey",
]

BITS = 48
CELL_PX = 16
ORIGIN_X_PX = 16
"""x of the first cell's left edge; the row's top edge is at H - 32."""
ROW_FROM_BOTTOM_PX = 32
BAND_PAD_PX = 8
MODULUS: int = 1 << BITS
VALID_WITHIN_MS = 86_400_000
_SAMPLE_PX = 8
_THRESHOLD = 128.0
MIN_WIDTH_PX = ORIGIN_X_PX + BITS * CELL_PX + BAND_PAD_PX
MIN_HEIGHT_PX = BAND_PAD_PX * 5


class ClockCodeError(ValueError):
    """The array cannot carry a clock code: wrong shape, or a picture too small for the row."""


def to_grey(frame: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """Luma of a decoded frame: an (H, W) grey/Y plane as is, an (H, W, 3) RGB picture by
    BT.601 weights (an (H, W, 4) RGBA/RGBX one ignores its 4th channel)."""
    arr = np.asarray(frame)
    if arr.ndim == 2:
        return arr.astype(np.float32, copy=False)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        rgb = arr[:, :, :3].astype(np.float32)
        out: npt.NDArray[np.float32] = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return out
    raise ClockCodeError(f"expected an (H, W) grey or (H, W, 3) RGB array, got shape {arr.shape}")


def read_raw(frame: npt.NDArray[np.generic]) -> int:
    """The 48-bit value the cells spell, whatever it means (no validity check)."""
    grey = to_grey(frame)
    height, width = grey.shape
    if width < MIN_WIDTH_PX or height < MIN_HEIGHT_PX:
        raise ClockCodeError(
            f"a {width}x{height} picture is too small for the clock code "
            f"(needs at least {MIN_WIDTH_PX}x{MIN_HEIGHT_PX})"
        )
    top = height - ROW_FROM_BOTTOM_PX
    inset = (CELL_PX - _SAMPLE_PX) // 2
    row = grey[top + inset : top + inset + _SAMPLE_PX, ORIGIN_X_PX : ORIGIN_X_PX + BITS * CELL_PX]
    # (8, 48*16) -> (8, 48, 16): take the central 8 columns of each cell and average them.
    cells = row.reshape(_SAMPLE_PX, BITS, CELL_PX)[:, :, inset : inset + _SAMPLE_PX]
    means = cells.mean(axis=(0, 2))
    value = 0
    for bit in means > _THRESHOLD:
        value = (value << 1) | int(bit)
    return value


def decode_ms(frame: npt.NDArray[np.generic], *, now_ms: int | None = None) -> int | None:
    """The frame's capture time in wall-clock milliseconds, or ``None`` when the frame carries no
    valid code (the value read is not within a day of ``now_ms``, the reader's clock by default).

    The code holds the time modulo 2**48 ms (8,900 years); the full time is the one nearest to
    the reader's clock that has those low bits."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    raw = read_raw(frame)
    base = now - (now % MODULUS)
    candidates = (base - MODULUS + raw, base + raw, base + MODULUS + raw)
    best = min(candidates, key=lambda c: abs(c - now))
    if abs(best - now) > VALID_WITHIN_MS:
        return None
    return best


def latency_ms(frame: npt.NDArray[np.generic], *, now_ms: int | None = None) -> int | None:
    """Milliseconds from the frame's capture to ``now_ms`` (the reader's clock by default), or
    ``None`` when the frame carries no valid code."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    captured = decode_ms(frame, now_ms=now)
    return None if captured is None else now - captured

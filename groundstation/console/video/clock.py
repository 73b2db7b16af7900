"""Reading the frame clock code (docs/video.md) from a decoded picture's luma plane.

The console reads only the bottom rows that carry the code, through the one reader the video
package has (``groundstation.video.clockcode``), so a 720p frame is never converted whole.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from groundstation.video.clockcode import ROW_FROM_BOTTOM_PX, ClockCodeError, decode_ms

_BAND_ROWS = ROW_FROM_BOTTOM_PX + 8


def read_capture_ms(luma: npt.NDArray[np.uint8], now_ms: int) -> int | None:
    """The capture time (Unix ms) coded in a ``H x W`` luma plane, or None when there is none."""
    if luma.shape[0] < _BAND_ROWS:
        return None
    try:
        return decode_ms(luma[-_BAND_ROWS:], now_ms=now_ms)
    except ClockCodeError:
        return None

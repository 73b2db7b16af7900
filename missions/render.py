"""Draw a coverage result as a PNG: pure numpy and a tiny PNG writer (zlib + struct), no Qt.

North is up. Cells are coloured by time to scene: green to yellow up to the threshold (120 s),
orange to red up to three times it, dark red beyond, grey where unreachable, lilac inside no-fly
zones, white outside Greater London. Borough outlines are dark grey, zone outlines purple, sites
black-edged white squares (sites added by ``optimise`` cyan). A colour scale runs down the right
edge, 0 at the top, with ticks (and small digit labels) every minute and a black bar at the
threshold.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from missions.airspace import boroughs
from missions.coverage import CoverageResult

Image = npt.NDArray[np.uint8]

WHITE = (255, 255, 255)
GREY = (120, 120, 120)
OUTLINE = (60, 60, 60)
ZONE_FILL = (215, 190, 235)
ZONE_EDGE = (120, 40, 160)
ADDED = (0, 200, 220)

_DIGITS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "s": ("000", "011", "110", "011", "110"),
}


def write_png(path: str | Path, rgb: Image) -> None:
    """Write an (h, w, 3) uint8 array as an 8-bit RGB PNG."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    Path(path).write_bytes(png)


def _ramp(t: Any, stops: list[tuple[float, tuple[int, int, int]]]) -> Image:
    xs = [s[0] for s in stops]
    out = np.stack([np.interp(t, xs, [s[1][c] for s in stops]) for c in range(3)], axis=-1)
    return out.astype(np.uint8)


def time_colours(t: Any, threshold_s: float) -> Image:
    """RGB for times in seconds (finite)."""
    return _ramp(
        np.clip(t, 0, 3 * threshold_s),
        [
            (0.0, (0, 150, 60)),
            (0.5 * threshold_s, (120, 200, 60)),
            (threshold_s, (250, 230, 60)),
            (threshold_s + 0.01, (250, 160, 40)),
            (2 * threshold_s, (220, 60, 30)),
            (3 * threshold_s, (120, 0, 20)),
        ],
    )


def _draw_text(img: Image, x: int, y: int, text: str, scale: int = 2) -> None:
    for ch in text:
        glyph = _DIGITS.get(ch)
        if glyph is None:
            x += 4 * scale
            continue
        for gy, row in enumerate(glyph):
            for gx, bit in enumerate(row):
                if bit == "1":
                    y0, x0 = y + gy * scale, x + gx * scale
                    img[y0 : y0 + scale, x0 : x0 + scale] = 0
        x += 4 * scale


def _polyline(img: Image, pts: Any, colour: tuple[int, int, int]) -> None:
    """Draw a polyline given in pixel coordinates (x, y)."""
    h, w, _ = img.shape
    pts = np.asarray(pts, dtype=np.float64)
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        n = max(2, math.ceil(2 * max(abs(x1 - x0), abs(y1 - y0))))
        xs = np.rint(np.linspace(x0, x1, n)).astype(int)
        ys = np.rint(np.linspace(y0, y1, n)).astype(int)
        ok = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        img[ys[ok], xs[ok]] = colour


def render_image(result: CoverageResult, px_per_cell: int | None = None) -> Image:
    """The heat map as an RGB array."""
    g = result.grid
    px = px_per_cell or max(1, min(8, round(800 / g.nx)))
    t = result.time_s[::-1]  # north up
    in_area, in_zone = g.in_area[::-1], g.in_zone[::-1]
    cells = np.full((g.ny, g.nx, 3), 255, dtype=np.uint8)
    finite = np.isfinite(t) & in_area
    cells[finite] = time_colours(t[finite], result.threshold_s)
    cells[in_area & ~np.isfinite(t)] = GREY
    cells[in_area & in_zone] = ZONE_FILL
    map_img = np.repeat(np.repeat(cells, px, axis=0), px, axis=1)
    h, w = g.ny * px, g.nx * px

    def to_px(lonlat: Any) -> Any:
        xy = g.frame.lonlat_to_xy_array(np.asarray(lonlat)[:, :2])
        return np.stack(
            [(xy[:, 0] - g.x0) / g.cell_m * px, h - (xy[:, 1] - g.y0) / g.cell_m * px], 1
        )

    for geom in boroughs().values():
        for poly in [geom] if geom.geom_type == "Polygon" else list(geom.geoms):
            _polyline(map_img, to_px(poly.exterior.coords), OUTLINE)
    zones = result.airspace.zones if result.airspace is not None else ()
    for zone in zones:
        _polyline(map_img, to_px(zone.outline.exterior.coords), ZONE_EDGE)
    n_own = len(result.sites) - len(result.added)
    for k, s in enumerate(result.sites):
        ((x, y),) = to_px([(s.lon_deg, s.lat_deg)])
        xi, yi = int(x), int(y)
        map_img[max(0, yi - 4) : yi + 5, max(0, xi - 4) : xi + 5] = 0
        map_img[max(0, yi - 2) : yi + 3, max(0, xi - 2) : xi + 3] = WHITE if k < n_own else ADDED
    # Colour scale: 0 .. 3x threshold, top to bottom, with minute ticks.
    bar_w, margin = 24, 10
    img = np.full((h, w + bar_w + 4 * margin + 24, 3), 255, dtype=np.uint8)
    img[:, :w] = map_img
    top, bottom = margin, h - margin
    span = 3 * result.threshold_s
    ts = np.linspace(0, span, bottom - top)
    x0 = w + margin
    img[top:bottom, x0 : x0 + bar_w] = time_colours(ts, result.threshold_s)[:, None, :]
    for sec in range(0, int(span) + 1, 60):
        y = top + round(sec / span * (bottom - top - 1))
        img[y, x0 + bar_w : x0 + bar_w + 6] = 0
        _draw_text(img, x0 + bar_w + 8, max(0, y - 4), str(sec))
    y = top + round(result.threshold_s / span * (bottom - top - 1))
    img[max(0, y - 1) : y + 2, x0 - 4 : x0 + bar_w + 4] = 0
    return img


def render_png(result: CoverageResult, path: str | Path, px_per_cell: int | None = None) -> Path:
    """Write the heat map PNG; returns the path."""
    out = Path(path)
    write_png(out, render_image(result, px_per_cell))
    return out

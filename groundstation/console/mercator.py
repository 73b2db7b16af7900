"""Web Mercator (EPSG:3857) for the map scene and the slippy-map tile arithmetic. Pure, no Qt.

Scene coordinates are Mercator metres with y pointing south (``y = -northing``), so north is up
on screen and a tile ``(z, x, y)`` of the OSM scheme is an axis-aligned square of the scene.
Mercator metres are longer than ground metres by ``1 / cos(lat)``: see :func:`ground_scale`.
"""

from __future__ import annotations

import math

R_M = 6_378_137.0
WORLD_M = 2 * math.pi * R_M
HALF_WORLD_M = WORLD_M / 2
TILE_PX = 256
MAX_LAT = 85.05112878


def to_scene(lat_deg: float, lon_deg: float) -> tuple[float, float]:
    lat = max(-MAX_LAT, min(MAX_LAT, lat_deg))
    x = R_M * math.radians(lon_deg)
    y = -R_M * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return x, y


def from_scene(x: float, y: float) -> tuple[float, float]:
    """(lat_deg, lon_deg) of a scene point."""
    lon = math.degrees(x / R_M)
    lat = math.degrees(2 * math.atan(math.exp(-y / R_M)) - math.pi / 2)
    return lat, lon


def ground_scale(lat_deg: float) -> float:
    """Ground metres per Mercator metre at a latitude."""
    return math.cos(math.radians(lat_deg))


def tile_zoom(px_per_m: float, max_zoom: int = 19) -> int:
    """The tile zoom level whose pixels best match a view scale (pixels per Mercator metre)."""
    if px_per_m <= 0:
        return 0
    z = math.log2(px_per_m * WORLD_M / TILE_PX)
    return max(0, min(max_zoom, round(z)))


def tile_size_m(z: int) -> float:
    return WORLD_M / (1 << z)


def tile_origin(z: int, x: int, y: int) -> tuple[float, float]:
    """Scene position of a tile's top-left corner."""
    size = tile_size_m(z)
    return -HALF_WORLD_M + x * size, -HALF_WORLD_M + y * size


def tiles_covering(
    left: float, top: float, right: float, bottom: float, z: int
) -> list[tuple[int, int]]:
    """Tiles (x, y) of zoom z that cover a scene rectangle, centre first."""
    size = tile_size_m(z)
    n = 1 << z

    def clamp(v: float) -> int:
        return max(0, min(n - 1, math.floor((v + HALF_WORLD_M) / size)))

    x0, x1 = clamp(left), clamp(right)
    y0, y1 = clamp(top), clamp(bottom)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    tiles = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    tiles.sort(key=lambda t: (t[0] - cx) ** 2 + (t[1] - cy) ** 2)
    return tiles


def nice_length(max_m: float) -> float:
    """The largest 1, 2 or 5 x 10^n not above max_m (scale bars, grid spacing)."""
    if max_m <= 0:
        return 1.0
    exp = math.floor(math.log10(max_m))
    for mult in (5, 2, 1):
        value = mult * 10.0**exp
        if value <= max_m:
            return value
    return 10.0**exp

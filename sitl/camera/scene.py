"""A synthetic but geo-consistent ground: texture tiles of streets, building blocks, parks and
borough outlines, drawn once per tile and shared by every vehicle's renderer.

Everything is anchored to latitude/longitude, not to a vehicle: the street grid runs along
constant latitudes and longitudes (STREET_LAT_DEG / STREET_LON_DEG apart), each block's content
comes from a hash of its grid indices, and the borough outlines are the GeoJSON polygons of
missions/data/london_boroughs.geojson (read as a file). Two vehicles, or two tiles, agree about
what lies where.

A tile is a square of TILE_SIZE_M at M_PER_PX around a centre snapped to a grid, in the
flat-earth frame of that centre (the same formulas as sitl.physics.LocalFrame).
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from sitl.physics import EARTH_RADIUS_M, LocalFrame

log = logging.getLogger(__name__)

Image = NDArray[np.uint8]

BOROUGHS_FILE = Path(__file__).resolve().parents[2] / "missions/data/london_boroughs.geojson"
TILE_SIZE_M = 2000.0
M_PER_PX = 0.5
MIP_FACTOR = 4  # the coarse copy of a tile: 2 m/px
TILE_SNAP_M = 500.0  # tile centres on a 500 m grid: nearby vehicles share tiles
TILE_CACHE = 4  # tiles kept (each 4000 x 4000 x 3 bytes = 48 MB)
STREET_LAT_DEG = 0.0008  # ~89 m between east-west streets
STREET_LON_DEG = 0.00125  # ~87 m between north-south streets at London's latitude
STREET_WIDTH_M = 10.0

# BGR colours
GROUND = (96, 112, 104)
FAR_GROUND = (92, 110, 100)
SKY = (235, 206, 170)
ROAD = (64, 64, 68)
KERB = (150, 150, 150)
PARK = (70, 140, 80)
BOROUGH = (0, 215, 255)  # amber
ROOFS = ((150, 160, 170), (120, 130, 150), (170, 170, 165), (110, 120, 125), (140, 150, 190))


@dataclass(frozen=True, slots=True)
class TileKey:
    lat_deg: float
    lon_deg: float


class Tile:
    """One texture tile: image[row, col] is the ground at (north, east) of the tile's frame with
    north = (half - row) * M_PER_PX and east = (col - half) * M_PER_PX."""

    def __init__(self, key: TileKey, boroughs: list[NDArray[np.float64]]) -> None:
        self.key = key
        self.frame = LocalFrame(key.lat_deg, key.lon_deg, 0.0)
        self.size_px = round(TILE_SIZE_M / M_PER_PX)
        self.half_px = self.size_px / 2
        self.image = _draw(self, boroughs)
        # A coarser copy for the distance (fewer cache misses, less aliasing): MIP_FACTOR x
        # fewer pixels a side, pixel (x, y) covering full-size pixels MIP_FACTOR*x .. +MIP_FACTOR-1.
        small = self.size_px // MIP_FACTOR
        self.coarse: Image = np.asarray(
            cv2.resize(self.image, (small, small), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )

    def to_px(self, north_m: NDArray[np.float64], east_m: NDArray[np.float64]) -> tuple[
        NDArray[np.float64], NDArray[np.float64]
    ]:
        return east_m / M_PER_PX + self.half_px, self.half_px - north_m / M_PER_PX

    def px_of(self, lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
        f = self.frame
        north = (lat - f.lat0_deg) * f._m_per_deg_lat
        east = (lon - f.lon0_deg) * f._m_per_deg_lon
        x, y = self.to_px(north, east)
        return np.stack([x, y], axis=-1)

    def plane_to_ned(self, ground_down_m: float) -> NDArray[np.float64]:
        """Columns: NED of one px step in x (col), in y (row), and of pixel (0, 0)."""
        r, h = M_PER_PX, self.half_px
        return np.array([[0.0, -r, h * r], [r, 0.0, -h * r], [0.0, 0.0, ground_down_m]])


def _draw(tile: Tile, boroughs: list[NDArray[np.float64]]) -> Image:
    n = tile.size_px
    img = np.empty((n, n, 3), np.uint8)
    img[:] = GROUND
    f = tile.frame
    half_deg_lat = (TILE_SIZE_M / 2) / f._m_per_deg_lat
    half_deg_lon = (TILE_SIZE_M / 2) / f._m_per_deg_lon
    lat0, lon0 = f.lat0_deg, f.lon0_deg
    i_min = math.floor((lat0 - half_deg_lat) / STREET_LAT_DEG) - 1
    i_max = math.ceil((lat0 + half_deg_lat) / STREET_LAT_DEG) + 1
    j_min = math.floor((lon0 - half_deg_lon) / STREET_LON_DEG) - 1
    j_max = math.ceil((lon0 + half_deg_lon) / STREET_LON_DEG) + 1
    road_px = STREET_WIDTH_M / M_PER_PX
    lats = np.arange(i_min, i_max + 1, dtype=np.float64) * STREET_LAT_DEG
    lons = np.arange(j_min, j_max + 1, dtype=np.float64) * STREET_LON_DEG
    ys = tile.px_of(lats, np.full(len(lats), lon0))[:, 1].tolist()  # row of each street
    xs = tile.px_of(np.full(len(lons), lat0), lons)[:, 0].tolist()  # column of each street
    # Blocks between the streets, each from its own seeded generator.
    for a, i in enumerate(range(i_min, i_max)):
        for b, j in enumerate(range(j_min, j_max)):
            _block(img, random.Random(i * 1_000_003 + j), xs[b], ys[a + 1], xs[b + 1], ys[a],
                   road_px)
    # Streets on top.
    h = road_px / 2
    for y in ys:
        cv2.rectangle(img, (0, round(y - h)), (n - 1, round(y + h)), ROAD, -1)
    for x in xs:
        cv2.rectangle(img, (round(x - h), 0), (round(x + h), n - 1), ROAD, -1)
    # Borough outlines (lon, lat rings).
    for ring in boroughs:
        px = tile.px_of(ring[:, 1], ring[:, 0])
        if (px[:, 0].max() < 0 or px[:, 0].min() > n or px[:, 1].max() < 0 or px[:, 1].min() > n):
            continue
        pts = np.round(px * 4).astype(np.int32)  # 2 fractional bits
        cv2.polylines(img, [pts], True, BOROUGH, 4, cv2.LINE_AA, shift=2)
    return img


def _block(
    img: Image, rng: random.Random, x0: float, y0: float, x1: float, y1: float, road_px: float
) -> None:
    m = road_px / 2 + 2 / M_PER_PX  # pavement
    bx0, by0, bx1, by1 = x0 + m, y0 + m, x1 - m, y1 - m
    if bx1 <= bx0 or by1 <= by0:
        return
    kind = rng.random()
    if kind < 0.15:
        cv2.rectangle(img, (round(bx0), round(by0)), (round(bx1), round(by1)), PARK, -1)
        return
    cv2.rectangle(img, (round(x0 + road_px / 2), round(y0 + road_px / 2)),
                  (round(x1 - road_px / 2), round(y1 - road_px / 2)), KERB, -1)
    # Terraces along the block's edges, a courtyard in the middle.
    w, h = bx1 - bx0, by1 - by0
    depth = min(w, h) * rng.uniform(0.22, 0.3)
    cols = rng.randint(2, 4)
    for k in range(cols):
        colour = ROOFS[rng.randrange(len(ROOFS))]
        xa, xb = bx0 + w * k / cols, bx0 + w * (k + 1) / cols - 2
        cv2.rectangle(img, (round(xa), round(by0)), (round(xb), round(by0 + depth)), colour, -1)
        colour = ROOFS[rng.randrange(len(ROOFS))]
        cv2.rectangle(img, (round(xa), round(by1 - depth)), (round(xb), round(by1)), colour, -1)
    colour = ROOFS[rng.randrange(len(ROOFS))]
    cv2.rectangle(img, (round(bx0), round(by0 + depth + 3)),
                  (round(bx0 + depth), round(by1 - depth - 3)), colour, -1)
    cv2.rectangle(img, (round(bx1 - depth), round(by0 + depth + 3)),
                  (round(bx1), round(by1 - depth - 3)), colour, -1)
    cv2.rectangle(img, (round(bx0 + depth + 3), round(by0 + depth + 3)),
                  (round(bx1 - depth - 3), round(by1 - depth - 3)), GROUND, -1)


def load_boroughs(path: Path = BOROUGHS_FILE) -> list[NDArray[np.float64]]:
    """The outer rings of every borough polygon, as (lon, lat) arrays; [] when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rings: list[NDArray[np.float64]] = []
        for feat in data.get("features", []):
            geom = feat.get("geometry") or {}
            polys = geom.get("coordinates", [])
            if geom.get("type") == "Polygon":
                polys = [polys]
            elif geom.get("type") != "MultiPolygon":
                continue
            rings.extend(np.asarray(p[0], dtype=np.float64)[:, :2] for p in polys if p)
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        log.warning("camera: no borough outlines (%s: %s)", path, exc)
        return []
    return rings


class TileCache:
    """Tiles by snapped centre, least recently used dropped; thread-safe (renderers run in
    threads). Building a tile takes a fraction of a second, once."""

    def __init__(self, size: int = TILE_CACHE, boroughs_file: Path = BOROUGHS_FILE) -> None:
        self._size = size
        self._tiles: OrderedDict[TileKey, Tile] = OrderedDict()
        self._lock = threading.Lock()
        self._boroughs_file = boroughs_file
        self._boroughs: list[NDArray[np.float64]] | None = None
        self._building: dict[TileKey, threading.Event] = {}  # tiles being built

    @property
    def size(self) -> int:
        """How many tiles are kept."""
        return self._size

    def key_for(self, lat_deg: float, lon_deg: float) -> TileKey:
        m_per_deg_lat = math.radians(1.0) * EARTH_RADIUS_M
        snap_lat = TILE_SNAP_M / m_per_deg_lat
        lat = round(lat_deg / snap_lat) * snap_lat
        # The longitude grid of a tile row depends only on the snapped latitude: stable keys.
        snap_lon = TILE_SNAP_M / (m_per_deg_lat * math.cos(math.radians(lat)))
        return TileKey(lat, round(lon_deg / snap_lon) * snap_lon)

    def tile(self, key: TileKey) -> Tile:
        """The tile, built now if it is not cached (or waited for if another thread builds it:
        a tile is built once)."""
        while True:
            with self._lock:
                t = self._tiles.get(key)
                if t is not None:
                    self._tiles.move_to_end(key)
                    return t
                pending = self._building.get(key)
                if pending is None:
                    done = self._building[key] = threading.Event()
                    if self._boroughs is None:
                        self._boroughs = load_boroughs(self._boroughs_file)
                    boroughs = self._boroughs
                    break
            pending.wait()
        try:
            t = Tile(key, boroughs)  # outside the lock: other renderers go on
            with self._lock:
                self._tiles[key] = t
                while len(self._tiles) > self._size:
                    self._tiles.popitem(last=False)
            return t
        finally:
            with self._lock:
                del self._building[key]
            done.set()

    def covering(self, lat_deg: float, lon_deg: float, margin_m: float) -> Tile | None:
        """A cached tile with (lat, lon) at least margin_m inside its edges, if any."""
        with self._lock:
            tiles = list(self._tiles.values())
        for t in reversed(tiles):  # most recently used first
            f = t.frame
            n = (lat_deg - f.lat0_deg) * f._m_per_deg_lat
            e = (lon_deg - f.lon0_deg) * f._m_per_deg_lon
            if max(abs(n), abs(e)) < TILE_SIZE_M / 2 - margin_m:
                return t
        return None

    def peek(self, key: TileKey) -> Tile | None:
        with self._lock:
            return self._tiles.get(key)

    def prefetch(self, key: TileKey) -> None:
        """Build the tile in a background thread (a renderer keeps using its current tile)."""
        with self._lock:
            if key in self._tiles or key in self._building:
                return
        threading.Thread(target=self.tile, args=(key,), name="camera-tile", daemon=True).start()


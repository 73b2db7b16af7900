"""A local metric frame for planar geometry: equirectangular around a fixed origin.

x is metres east, y metres north of the origin. The mapping is affine in (lon, lat), so a straight
line in degrees stays a straight line in metres and polygon containment is exactly the same in both.
Distances are off by the change of cos(latitude) away from the origin: under 0.5 % across Greater
London (51.28 to 51.70 N) with the origin at 51.5 N: ample for zone checks and flight times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from missions.geo import EARTH_RADIUS_M, LatLon

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """Equirectangular projection about (origin_lat_deg, origin_lon_deg)."""

    origin_lat_deg: float
    origin_lon_deg: float

    @property
    def _m_per_deg_lat(self) -> float:
        return math.radians(1.0) * EARTH_RADIUS_M

    @property
    def _m_per_deg_lon(self) -> float:
        return self._m_per_deg_lat * math.cos(math.radians(self.origin_lat_deg))

    def to_xy(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """(east_m, north_m) of one position."""
        return (
            (lon_deg - self.origin_lon_deg) * self._m_per_deg_lon,
            (lat_deg - self.origin_lat_deg) * self._m_per_deg_lat,
        )

    def to_latlon(self, x_m: float, y_m: float) -> LatLon:
        """The position of one local point."""
        return LatLon(
            self.origin_lat_deg + y_m / self._m_per_deg_lat,
            self.origin_lon_deg + x_m / self._m_per_deg_lon,
        )

    def lonlat_to_xy_array(self, lonlat: Any) -> FloatArray:
        """Vectorised: an (n, 2) array of (lon, lat) to an (n, 2) array of (x, y)."""
        a = np.asarray(lonlat, dtype=np.float64)
        out = np.empty_like(a)
        out[..., 0] = (a[..., 0] - self.origin_lon_deg) * self._m_per_deg_lon
        out[..., 1] = (a[..., 1] - self.origin_lat_deg) * self._m_per_deg_lat
        return out

    def xy_to_lonlat_array(self, xy: Any) -> FloatArray:
        """Vectorised inverse of lonlat_to_xy_array."""
        a = np.asarray(xy, dtype=np.float64)
        out = np.empty_like(a)
        out[..., 0] = self.origin_lon_deg + a[..., 0] / self._m_per_deg_lon
        out[..., 1] = self.origin_lat_deg + a[..., 1] / self._m_per_deg_lat
        return out


LONDON_FRAME = LocalFrame(51.5, -0.12)
"""The frame every Greater London computation in this package uses."""

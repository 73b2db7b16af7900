"""Build ``missions/data/nofly-london.geojson``: the FRZs of the four London aerodromes.

Geometry follows the CAA's flight restriction zone for protected aerodromes: a circle on the
aerodrome (2.5 NM radius where the longest runway exceeds 1,850 m, Heathrow; 2 NM otherwise) plus a
runway protection zone off each runway end: a box 1 km wide extending 5 km from the threshold
along the extended centreline. The circle is written as a circumscribed polygon so the written zone
always contains the true circle.

The numbers: aerodrome reference points are transcribed from the UK AIP (civil) and UK MIL AIP
(Northolt), AD 2.2. Runway lengths are the published physical lengths. True bearings are
approximate (the runway designator's magnetic heading, corrected for a magnetic variation within
about a degree of zero in London); thresholds are placed half a runway length either side of the
runway midpoint along that bearing. Good to a few tens of metres: for planning and simulation only.

Run ``python -m missions.build_airspace`` to rewrite the file.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import Polygon, mapping
from shapely.ops import unary_union

from missions.geo import LatLon, destination, offset
from missions.projection import LocalFrame

NM_M = 1852.0
FRZ_CEILING_M = 610.0  # 2,000 ft above aerodrome elevation
RPZ_LENGTH_M = 5000.0
RPZ_WIDTH_M = 1000.0
CIRCLE_SEGMENTS = 72


def _dms(deg: int, minutes: int, seconds: float, positive: bool = True) -> float:
    value = deg + minutes / 60 + seconds / 3600
    return value if positive else -value


@dataclass(frozen=True, slots=True)
class Runway:
    designator: str
    mid: LatLon
    length_m: float
    true_bearing_deg: float  # of the lower-numbered end's direction of landing


@dataclass(frozen=True, slots=True)
class Aerodrome:
    name: str
    icao: str
    arp: LatLon
    radius_nm: float
    runways: tuple[Runway, ...]
    source: str


def _north_runway_offset(base: LatLon, north_m: float, east_m: float) -> LatLon:
    return offset(base.lat_deg, base.lon_deg, north_m, east_m)


_EGLL_ARP = LatLon(_dms(51, 28, 39), _dms(0, 27, 41, positive=False))
_EGLC_ARP = LatLon(_dms(51, 30, 19), _dms(0, 3, 19))
_EGWU_ARP = LatLon(_dms(51, 33, 9.77), _dms(0, 25, 10.55, positive=False))
_EGKB_ARP = LatLon(_dms(51, 19, 51), _dms(0, 1, 57))

AERODROMES: tuple[Aerodrome, ...] = (
    Aerodrome(
        name="Heathrow",
        icao="EGLL",
        arp=_EGLL_ARP,
        radius_nm=2.5,
        runways=(
            Runway("09L/27R", _EGLL_ARP, 3902.0, 89.67),
            # The south runway: centreline 1,414 m south of the north one; shorter at its west
            # end, so its midpoint sits about 120 m east of the ARP (estimated from the charts).
            Runway("09R/27L", _north_runway_offset(_EGLL_ARP, -1414.0, 120.0), 3660.0, 89.69),
        ),
        source=(
            "UK AIP AD 2.EGLL: ARP 512839N 0002741W, mid point of runway 09L/27R; runways "
            "09L/27R 3,902 m and 09R/27L 3,660 m, true bearings about 089.7; south runway "
            "centreline 1,414 m south of the north one (approximate)"
        ),
    ),
    Aerodrome(
        name="London City",
        icao="EGLC",
        arp=_EGLC_ARP,
        radius_nm=2.0,
        runways=(Runway("09/27", _EGLC_ARP, 1508.0, 92.6),),
        source=(
            "UK AIP AD 2.EGLC: ARP 513019N 0000319E, mid point of runway 09/27; runway 1,508 m; "
            "true bearing about 092.6 (approximate)"
        ),
    ),
    Aerodrome(
        name="Northolt",
        icao="EGWU",
        arp=_EGWU_ARP,
        radius_nm=2.0,
        runways=(Runway("07/25", _EGWU_ARP, 1687.0, 73.0),),
        source=(
            "UK MIL AIP AD 2.EGWU: ARP N51 33 09.77 W000 25 10.55, mid point of runway 07/25; "
            "runway 1,687 m; true bearing about 073 (approximate)"
        ),
    ),
    Aerodrome(
        name="Biggin Hill",
        icao="EGKB",
        arp=_EGKB_ARP,
        radius_nm=2.0,
        runways=(
            Runway("03/21", _EGKB_ARP, 1802.0, 28.0),
            Runway("11/29", _north_runway_offset(_EGKB_ARP, -150.0, 250.0), 792.0, 106.0),
        ),
        source=(
            "UK AIP AD 2.EGKB: ARP 511951N 0000157E; runways 03/21 1,802 m (true bearing about "
            "028) and 11/29 792 m (about 106); runway midpoints placed at or near the ARP "
            "(approximate)"
        ),
    ),
)


def _circle(radius_m: float) -> Polygon:
    # Circumscribed: every edge is tangent-or-outside the true circle.
    r = radius_m / math.cos(math.pi / CIRCLE_SEGMENTS)
    pts = [
        (r * math.sin(a), r * math.cos(a))
        for a in (2 * math.pi * k / CIRCLE_SEGMENTS for k in range(CIRCLE_SEGMENTS))
    ]
    return Polygon(pts)


def _rpz_boxes(frame: LocalFrame, rwy: Runway) -> list[Polygon]:
    boxes = []
    mx, my = frame.to_xy(rwy.mid.lat_deg, rwy.mid.lon_deg)
    for bearing in (rwy.true_bearing_deg, rwy.true_bearing_deg + 180.0):
        b = math.radians(bearing)
        ux, uy = math.sin(b), math.cos(b)  # along the landing direction
        px, py = -uy, ux  # perpendicular
        # The threshold of the end landed on in direction `bearing` lies behind the midpoint.
        tx, ty = mx - ux * rwy.length_m / 2, my - uy * rwy.length_m / 2
        fx, fy = tx - ux * RPZ_LENGTH_M, ty - uy * RPZ_LENGTH_M  # out along the approach
        w = RPZ_WIDTH_M / 2
        boxes.append(
            Polygon(
                [
                    (tx + px * w, ty + py * w),
                    (fx + px * w, fy + py * w),
                    (fx - px * w, fy - py * w),
                    (tx - px * w, ty - py * w),
                ]
            )
        )
    return boxes


def zone_feature(ad: Aerodrome) -> dict[str, Any]:
    """One GeoJSON feature: the aerodrome's FRZ as a polygon in lon/lat."""
    frame = LocalFrame(ad.arp.lat_deg, ad.arp.lon_deg)
    parts = [_circle(ad.radius_nm * NM_M)]
    for rwy in ad.runways:
        parts.extend(_rpz_boxes(frame, rwy))
    shape = unary_union(parts)
    lonlat = [
        [round(lon, 6), round(lat, 6)]
        for lon, lat in frame.xy_to_lonlat_array(list(shape.exterior.coords)).tolist()
    ]
    geometry = mapping(Polygon(lonlat))
    runways = [
        {
            "designator": r.designator,
            "mid_lat_deg": round(r.mid.lat_deg, 6),
            "mid_lon_deg": round(r.mid.lon_deg, 6),
            "length_m": r.length_m,
            "true_bearing_deg": r.true_bearing_deg,
            "thresholds": [
                [round(p.lat_deg, 6), round(p.lon_deg, 6)]
                for p in (
                    destination(*r.mid, r.true_bearing_deg + 180, r.length_m / 2),
                    destination(*r.mid, r.true_bearing_deg, r.length_m / 2),
                )
            ],
        }
        for r in ad.runways
    ]
    return {
        "type": "Feature",
        "properties": {
            "name": f"{ad.name} FRZ",
            "kind": "frz",
            "icao": ad.icao,
            "floor_m": 0.0,
            "ceiling_m": FRZ_CEILING_M,
            "arp_lat_deg": round(ad.arp.lat_deg, 6),
            "arp_lon_deg": round(ad.arp.lon_deg, 6),
            "radius_nm": ad.radius_nm,
            "rpz_length_m": RPZ_LENGTH_M,
            "rpz_width_m": RPZ_WIDTH_M,
            "runways": runways,
            "source": ad.source,
        },
        "geometry": {"type": geometry["type"], "coordinates": geometry["coordinates"]},
    }


def build() -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "name": "nofly-london",
        "description": (
            "CAA-style flight restriction zones of the four London aerodromes: a 2.5 NM (Heathrow) "
            "or 2 NM circle on the aerodrome reference point plus 5 km x 1 km runway protection "
            "zones off each runway end, floor 0, ceiling 2,000 ft. Approximate: generated by "
            "missions/build_airspace.py from the numbers in each feature; not an authoritative "
            "airspace source."
        ),
        "features": [zone_feature(ad) for ad in AERODROMES],
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).parent / "data" / "nofly-london.geojson"
    out.write_text(json.dumps(build(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

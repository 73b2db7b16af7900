"""What the camera sees: the ground tile warped through the lens (one homography), the incident
marker and the actors projected point by point, the sky above the horizon. Pure (numpy/OpenCV);
called from the encoder thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from sitl.camera.actors import Actor, ActorKind, Crowd
from sitl.camera.lens import CameraPose, Lens, ground_homography, ground_point, horizon
from sitl.camera.scene import (
    FAR_GROUND,
    M_PER_PX,
    MIP_FACTOR,
    SKY,
    TILE_SIZE_M,
    Tile,
    TileCache,
)

Image = NDArray[np.uint8]

MARKER_BGR = (0, 0, 255)
MARKER_OUTER_M = 6.0
MARKER_INNER_M = 4.8
MARKER_BAR_M = 0.8
MARKER_RANGE_M = 3000.0  # scenes farther than this are not drawn (a few pixels at most)
TILE_LOOKAHEAD_M = 600.0  # the tile is centred on what the camera looks at, at most this far
GROUND_SCALE = 2  # the ground is rendered at 1/GROUND_SCALE of the picture's resolution
TILE_KEEP_M = TILE_SIZE_M / 2 - 200.0  # keep a tile while the look point is this far inside
_RING = np.linspace(0.0, 2 * math.pi, 48, endpoint=False)


@dataclass(frozen=True, slots=True)
class View:
    """Everything one frame depends on (a snapshot taken on the simulator's loop)."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float  # the camera
    ground_amsl_m: float  # flat ground under it
    heading_deg: float  # of the optical axis
    pitch_deg: float
    sim_time_s: float  # moves the actors
    incidents: tuple[tuple[float, float], ...] = ()  # lat, lon of markers (and their crowds)


class Renderer:
    """Renders Views for one lens; tiles come from a (shared) TileCache."""

    def __init__(
        self, lens: Lens, tiles: TileCache, crowd: Crowd | None = None, smooth: bool = False
    ) -> None:
        self.lens = lens
        self.tiles = tiles
        self.crowd = crowd if crowd is not None else Crowd()
        self._interp = cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST
        # Frame buffers reused (a fresh 2.7 MB array per frame costs page faults).
        self._out: Image = np.empty((lens.height_px, lens.width_px, 3), np.uint8)
        self._half: Image = np.empty(
            (lens.height_px // GROUND_SCALE, lens.width_px // GROUND_SCALE, 3), np.uint8
        )

    def render(self, view: View) -> Image:
        """The BGR frame (H x W x 3) of the view: the renderer's own buffer, valid until its
        next render() (copy it to keep it)."""
        lens = self.lens
        tile = self._tile_for(view)
        f = tile.frame
        pose = CameraPose(
            (view.lat_deg - f.lat0_deg) * f._m_per_deg_lat,
            (view.lon_deg - f.lon0_deg) * f._m_per_deg_lon,
            -max(view.alt_amsl_m - view.ground_amsl_m, 0.05),
            view.heading_deg,
            view.pitch_deg,
        )
        hom = ground_homography(lens, pose, tile.plane_to_ned(0.0))
        # The ground is warped at half resolution and doubled: the texture (0.5 m/px) is
        # magnified wherever the full picture would show more detail than the half one.
        w, h = lens.width_px // GROUND_SCALE, lens.height_px // GROUND_SCALE
        c = (GROUND_SCALE - 1) / (2 * GROUND_SCALE)
        g = 1 / GROUND_SCALE
        to_half = np.array([[g, 0.0, -c], [0.0, g, -c], [0.0, 0.0, 1.0]])
        half = self._half
        split = min(h, _coarse_rows(hom, lens) // GROUND_SCALE)
        # Far rows (top) from the coarse copy, near rows from the full tile: a two-level mipmap.
        for src, m, a, b in ((tile.coarse, hom @ _MIP, 0, split), (tile.image, hom, split, h)):
            if b > a:
                shift = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -a], [0.0, 0.0, 1.0]])
                cv2.warpPerspective(src, shift @ to_half @ m, (w, b - a), dst=half[a:b],
                                    flags=self._interp, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=FAR_GROUND)
        out = self._out
        cv2.resize(half, (lens.width_px, lens.height_px), dst=out, interpolation=cv2.INTER_NEAREST)
        proj = _Projector(lens, pose)
        for k, (lat, lon) in enumerate(view.incidents):
            n0 = (lat - f.lat0_deg) * f._m_per_deg_lat
            e0 = (lon - f.lon0_deg) * f._m_per_deg_lon
            if math.hypot(n0 - pose.north_m, e0 - pose.east_m) > MARKER_RANGE_M:
                continue
            _draw_marker(out, proj, n0, e0)
            # Each scene its own crowd (time-shifted: not the same choreography twice) and
            # getaways (sitl/camera/actors.py), as the camera's tracker sees them.
            _draw_actors(out, proj, n0, e0, self.crowd.at_scene(view.sim_time_s, k, lat, lon))
        _draw_sky(out, lens, pose)
        return out

    def _tile_for(self, view: View) -> Tile:
        """The tile around what the camera looks at; while a new one is being built in the
        background the current one serves if the look point is still well inside it."""
        lat, lon = self._look_point(view)
        key = self.tiles.key_for(lat, lon)
        tile = self.tiles.peek(key)
        if tile is None:
            # Any cached tile (ours, another camera's) that still covers the point serves
            # while the right one is built in the background.
            tile = self.tiles.covering(lat, lon, TILE_SIZE_M / 2 - TILE_KEEP_M)
            if tile is not None:
                self.tiles.prefetch(key)
        if tile is None:
            tile = self.tiles.tile(key)
        return tile

    def _look_point(self, view: View) -> tuple[float, float]:
        """lat, lon of the ground the camera looks at (or toward), at most TILE_LOOKAHEAD_M away."""
        lens = self.lens
        h = max(view.alt_amsl_m - view.ground_amsl_m, 0.05)
        pose = CameraPose(0.0, 0.0, -h, view.heading_deg, view.pitch_deg)
        g = ground_point(lens, pose, lens.width_px / 2, lens.height_px / 2)
        hd = math.radians(view.heading_deg)
        if g is None or math.hypot(*g) > TILE_LOOKAHEAD_M:
            g = (TILE_LOOKAHEAD_M * math.cos(hd), TILE_LOOKAHEAD_M * math.sin(hd))
        m_lat = math.radians(1.0) * 6_371_008.8
        m_lon = m_lat * math.cos(math.radians(view.lat_deg))
        return view.lat_deg + g[0] / m_lat, view.lon_deg + g[1] / m_lon


_MIP = np.array([[MIP_FACTOR, 0.0, (MIP_FACTOR - 1) / 2],
                 [0.0, MIP_FACTOR, (MIP_FACTOR - 1) / 2], [0.0, 0.0, 1.0]])
COARSE_M_PER_PX = 2 * M_PER_PX  # ground per picture pixel beyond which the coarse copy serves


def _coarse_rows(hom: NDArray[np.float64], lens: Lens) -> int:
    """How many rows from the top see the ground so far away (more than COARSE_M_PER_PX per
    picture pixel, along the centre column) that the coarse copy of the tile serves them."""
    inv = np.linalg.inv(hom)
    v = np.arange(0, lens.height_px + 1, 8, dtype=np.float64)
    p = inv @ np.stack([np.full_like(v, lens.width_px / 2), v, np.ones_like(v)])
    w = p[2]
    ahead = w > 1e-12  # rows that see the ground in front of the camera
    x = np.where(ahead, p[0] / np.where(ahead, w, 1.0), np.inf)
    y = np.where(ahead, p[1] / np.where(ahead, w, 1.0), np.inf)
    with np.errstate(invalid="ignore"):  # inf - inf beyond the horizon: not finite, far
        step = np.hypot(np.diff(x), np.diff(y)) * M_PER_PX / 8  # metres per picture row
    far = ~(ahead[:-1] & ahead[1:]) | ~np.isfinite(step) | (step > COARSE_M_PER_PX)
    near = np.nonzero(~far)[0]
    if len(near) == 0:
        return lens.height_px
    return int(min(lens.height_px, 8 * near[0]))


class _Projector:
    """project() with the rotation computed once per frame."""

    def __init__(self, lens: Lens, pose: CameraPose) -> None:
        self.r = pose.rotation()
        self.c = pose.position
        self.f = lens.focal_px
        self.cx, self.cy = lens.width_px / 2, lens.height_px / 2

    def ground(self, ne: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Pixels x16 (for cv2's shift=4) of ground points (N x 2 north, east), and in front."""
        d = np.empty((len(ne), 3))
        d[:, :2] = ne - self.c[:2]
        d[:, 2] = -self.c[2]
        cam = d @ self.r.T
        z = cam[:, 2]
        front = z > 1e-3
        zs = np.where(front, z, 1.0)
        uv = np.empty((len(ne), 2))
        uv[:, 0] = (self.f * cam[:, 0] / zs + self.cx) * 16
        uv[:, 1] = (self.f * cam[:, 1] / zs + self.cy) * 16
        return uv, front


def _poly(proj: _Projector, ne: NDArray[np.float64]) -> NDArray[np.int32] | None:
    uv, front = proj.ground(ne)
    if not front.all() or np.abs(uv).max() > 2**24:
        return None
    return np.round(uv).astype(np.int32)


def _draw_marker(out: Image, proj: _Projector, n0: float, e0: float) -> None:
    ring = np.column_stack([np.cos(_RING), np.sin(_RING)])
    outer = ring * MARKER_OUTER_M + (n0, e0)
    inner = ring * MARKER_INNER_M + (n0, e0)
    a, w = MARKER_INNER_M, MARKER_BAR_M / 2
    bar_ns = np.array([[n0 - a, e0 - w], [n0 - a, e0 + w], [n0 + a, e0 + w], [n0 + a, e0 - w]])
    bar_ew = np.array([[n0 - w, e0 - a], [n0 + w, e0 - a], [n0 + w, e0 + a], [n0 - w, e0 + a]])
    polys = [_poly(proj, p) for p in (outer, inner, bar_ns, bar_ew)]
    if polys[0] is not None and polys[1] is not None:
        cv2.fillPoly(out, [polys[0], polys[1]], MARKER_BGR, cv2.LINE_AA, shift=4)
    for p in polys[2:]:
        if p is not None:
            cv2.fillConvexPoly(out, p, MARKER_BGR, cv2.LINE_AA, shift=4)


_PERSON_RING = np.column_stack([np.cos(_RING[::6]), np.sin(_RING[::6])])  # 8 vertices
_CAR_BOX8 = np.repeat(np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]]), 2, axis=0)


def _draw_actors(out: Image, proj: _Projector, n0: float, e0: float, actors: list[Actor]) -> None:
    """All actors' outlines built and projected in one batch, then filled one by one."""
    if not actors:
        return
    k = len(actors)
    people = np.array([a.kind is ActorKind.PERSON for a in actors])
    pos = np.array([(n0 + a.north_m, e0 + a.east_m) for a in actors])
    h = np.radians([a.heading_deg for a in actors])
    half = np.array([(a.length_m / 2, a.width_m / 2) for a in actors])
    # Every actor as 8 vertices (a car's box repeats its corners): one array, one projection.
    shape = np.where(people[:, None, None], _PERSON_RING[None], _CAR_BOX8[None]) * half[:, None]
    ch, sh = np.cos(h)[:, None], np.sin(h)[:, None]
    ne = np.empty((k, 8, 2))
    ne[..., 0] = pos[:, 0:1] + shape[..., 0] * ch - shape[..., 1] * sh
    ne[..., 1] = pos[:, 1:2] + shape[..., 0] * sh + shape[..., 1] * ch
    uv, front = proj.ground(ne.reshape(-1, 2))
    uv = uv.reshape(k, 8, 2)
    ok = front.reshape(k, 8).all(axis=1) & (np.abs(uv).max(axis=(1, 2)) < 2**24)
    w, h_px = out.shape[1] * 16, out.shape[0] * 16
    inside = ((uv[..., 0].max(axis=1) > 0) & (uv[..., 0].min(axis=1) < w)
              & (uv[..., 1].max(axis=1) > 0) & (uv[..., 1].min(axis=1) < h_px))
    pts = np.round(uv).astype(np.int32)
    for i in np.nonzero(ok & inside)[0]:
        cv2.fillConvexPoly(out, pts[i], actors[i].colour, cv2.LINE_AA, shift=4)


def _draw_sky(out: Image, lens: Lens, pose: CameraPose) -> None:
    a, b, c = horizon(lens, pose)
    w, h = lens.width_px, lens.height_px
    corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
    sky: list[tuple[float, float]] = []
    for k in range(4):  # clip the frame to the half-plane a*u + b*v + c <= 0
        p, q = corners[k], corners[(k + 1) % 4]
        sp, sq = a * p[0] + b * p[1] + c, a * q[0] + b * q[1] + c
        if sp <= 0:
            sky.append(p)
        if (sp <= 0) != (sq <= 0):
            t = sp / (sp - sq)
            sky.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    if len(sky) >= 3:
        pts = np.round(np.array(sky) * 16).astype(np.int32)
        cv2.fillPoly(out, [pts], SKY, cv2.LINE_AA, shift=4)

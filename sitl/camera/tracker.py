"""The camera's onboard visual tracker, as tracking gimbals provide it behind MAVLink's camera
tracking protocol (MAV_CMD_CAMERA_TRACK_POINT / _RECTANGLE / STOP_TRACKING): pure.

    seen = visible(lens, pose, scenes, now_s)     # the actors in the picture, with their boxes
    why = tracker.start(Selection(...), seen, now_s)   # None: locked; else why not
    tracker.update(seen, now_s)                   # follow the locked actor, or lose it

It "sees" exactly what the renderer draws: the scene's actors (sitl/camera/actors.py) through the
same pinhole lens (sitl/camera/lens.py) from the same camera pose, so a point clicked on a car in
the video locks that car. A selection that covers no actor is refused with the reason. The lock is
kept while the actor is in the picture and big enough to see; out of sight (out of the picture,
behind the camera, too small) for LOST_AFTER_S it is lost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from sitl.camera.actors import Actor
from sitl.camera.lens import CameraPose, Lens, project

LOST_AFTER_S = 2.0  # out of sight this long: the lock is lost
MIN_SIZE_PX = 3.0  # smaller than this in the picture: not seen
POINT_MARGIN_PX = 12.0  # a click this close to an actor's box picks it


class TrackingStatus(IntEnum):
    """CAMERA_TRACKING_STATUS_FLAGS."""

    IDLE = 0
    ACTIVE = 1
    ERROR = 2


class TrackingMode(IntEnum):
    """CAMERA_TRACKING_MODE."""

    NONE = 0
    POINT = 1
    RECTANGLE = 2


@dataclass(frozen=True, slots=True)
class Seen:
    """An actor as the camera sees it: world position (NED m) and its box in the picture (px)."""

    key: tuple[int, int]  # (scene index, actor ident)
    actor: Actor
    ned: tuple[float, float, float]
    box: tuple[float, float, float, float]  # left, top, right, bottom

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass(frozen=True, slots=True)
class Selection:
    """What the operator chose, in normalised picture coordinates (0..1, from the top left)."""

    mode: TrackingMode
    x: float  # point, or the rectangle's left
    y: float  # point, or the rectangle's top
    radius: float = 0.0  # point: a fraction of the picture's width
    right: float = math.nan
    bottom: float = math.nan

    def problem(self) -> str | None:
        vals = (self.x, self.y) + ((self.right, self.bottom) if self.mode is
                                   TrackingMode.RECTANGLE else (self.radius,))
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in vals):
            return "tracking selection outside the picture (0..1)"
        if self.mode is TrackingMode.RECTANGLE and not (self.right > self.x
                                                        and self.bottom > self.y):
            return "tracking rectangle is empty"
        return None


def visible(lens: Lens, pose: CameraPose,
            scenes: Sequence[tuple[tuple[float, float, float], list[Actor]]]) -> list[Seen]:
    """Every actor in the picture, big enough to see. ``scenes``: (centre NED, actors)."""
    out: list[Seen] = []
    for k, (centre, actors) in enumerate(scenes):
        if not actors:
            continue
        corners = []
        for a in actors:
            h = math.radians(a.heading_deg)
            c, s = math.cos(h), math.sin(h)
            hl, hw = a.length_m / 2, a.width_m / 2
            n, e = centre[0] + a.north_m, centre[1] + a.east_m
            for dl, dw in ((hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw)):
                corners.append((n + dl * c - dw * s, e + dl * s + dw * c, centre[2]))
        uv, front = project(lens, pose, np.array(corners))
        for i, a in enumerate(actors):
            q = uv[4 * i:4 * i + 4]
            if not front[4 * i:4 * i + 4].all():
                continue
            left, top = float(q[:, 0].min()), float(q[:, 1].min())
            right, bottom = float(q[:, 0].max()), float(q[:, 1].max())
            if right < 0 or bottom < 0 or left > lens.width_px or top > lens.height_px:
                continue
            if max(right - left, bottom - top) < MIN_SIZE_PX:
                continue
            ned = (centre[0] + a.north_m, centre[1] + a.east_m, centre[2])
            out.append(Seen((k, a.ident), a, ned, (left, top, right, bottom)))
    return out


def _pick(sel: Selection, seen: Sequence[Seen], lens: Lens) -> Seen | None:
    w, h = lens.width_px, lens.height_px
    if sel.mode is TrackingMode.POINT:
        u, v = sel.x * w, sel.y * h
        reach = max(POINT_MARGIN_PX, sel.radius * w)
        best: tuple[float, Seen] | None = None
        for s in seen:
            left, top, right, bottom = s.box
            du = max(left - u, 0.0, u - right)
            dv = max(top - v, 0.0, v - bottom)
            d = math.hypot(du, dv)
            if d <= reach and (best is None or d < best[0]
                               or (d == best[0] and _area(s.box) < _area(best[1].box))):
                best = (d, s)
        return best[1] if best else None
    rect = (sel.x * w, sel.y * h, sel.right * w, sel.bottom * h)
    scored = [(_overlap(s.box, rect), s) for s in seen]
    scored = [x for x in scored if x[0] > 0.0]
    return max(scored, key=lambda x: x[0])[1] if scored else None


def _area(b: tuple[float, float, float, float]) -> float:
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The share of box a inside box b (0..1)."""
    inter = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    area = _area(a)
    return _area(inter) / area if area > 0 else 0.0


class Tracker:
    """One camera's tracker: which actor is locked, where it was last seen, why it stopped."""

    def __init__(self, lens: Lens) -> None:
        self.lens = lens
        self.mode = TrackingMode.NONE
        self.key: tuple[int, int] | None = None
        self.last: Seen | None = None  # the last sighting
        self.last_seen_s = 0.0
        self.in_sight = False
        self.velocity_ned: tuple[float, float, float] = (math.nan, math.nan, math.nan)
        self.why_idle = "not tracking"

    @property
    def status(self) -> TrackingStatus:
        return TrackingStatus.ACTIVE if self.key is not None else TrackingStatus.IDLE

    def start(self, sel: Selection, seen: Sequence[Seen], now_s: float) -> str | None:
        """Lock on the actor the selection covers; None when locked, else why not (the tracker
        is then idle)."""
        why = sel.problem()
        target = None if why else _pick(sel, seen, self.lens)
        if target is None:
            self.stop(why or f"nothing to track at {sel.x:.2f}, {sel.y:.2f}")
            return self.why_idle
        self.mode, self.key = sel.mode, target.key
        self.last, self.last_seen_s, self.in_sight = target, now_s, True
        a = target.actor
        h = math.radians(a.heading_deg)
        self.velocity_ned = (a.speed_m_s * math.cos(h), a.speed_m_s * math.sin(h), 0.0)
        return None

    def stop(self, why: str = "stopped") -> None:
        self.mode, self.key, self.in_sight = TrackingMode.NONE, None, False
        self.why_idle = why

    def update(self, seen: Sequence[Seen], now_s: float) -> bool:
        """Follow the locked actor in this picture; True when the lock was lost just now."""
        if self.key is None:
            return False
        hit = next((s for s in seen if s.key == self.key), None)
        if hit is not None:
            prev, dt = self.last, now_s - self.last_seen_s
            if prev is not None and dt > 1e-3:
                self.velocity_ned = tuple(  # type: ignore[assignment]
                    (b - a) / dt for a, b in zip(prev.ned, hit.ned, strict=True))
            self.last, self.last_seen_s, self.in_sight = hit, now_s, True
            return False
        self.in_sight = False
        if now_s - self.last_seen_s > LOST_AFTER_S:
            self.stop(f"target lost: out of sight for {LOST_AFTER_S:g} s")
            return True
        return False

    def predicted_ned(self, now_s: float) -> tuple[float, float, float] | None:
        """Where the target is now by the last sighting and velocity (for the gimbal)."""
        if self.key is None or self.last is None:
            return None
        dt = now_s - self.last_seen_s
        v = self.velocity_ned if all(math.isfinite(x) for x in self.velocity_ned) else (0, 0, 0)
        n, e, d = self.last.ned
        return n + v[0] * dt, e + v[1] * dt, d

"""People and vehicles moving near the scene: seeded, repeatable, a closed-form function of time.

    crowd = Crowd(seed=3)
    for a in crowd.at(t_s):          # metres north/east of the scene's centre
        a.kind, a.north_m, a.east_m, a.heading_deg, a.speed_m_s

Each actor walks (or drives) back and forth along its own straight track near the centre, so
where it is at time t depends only on (seed, t): the same seed and time give the same picture,
whatever the frame rate. Pure; the renderer draws them, the tracking work (issue #18) can read
their ground truth.

Getaways (the incident scenario): every GETAWAY_PERIOD_S of simulated time each scene has a car
that waits at the scene and drives away along the streets at 10-15 m/s from GETAWAY_DEPART_S into
the period for CAR_DRIVE_S, and a person who runs away at 3-5 m/s RUNNER_DELAY_S later for
RUNNER_RUN_S, turning at junctions (seeded by the seed, the street block of the scene and the
period: every camera of the fleet sees the same getaways). Their true positions:
``crowd.getaways(lat, lon, t)[i].at(t)`` / ``.lat_lon_at(t)``.

    for g in crowd.getaways(lat, lon, t_s):   # the car, then the runner
        g.kind, g.depart_s, g.speed_m_s, g.lat_lon_at(t_s)
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from enum import Enum

from sitl.camera.scene import STREET_LAT_DEG, STREET_LON_DEG


class ActorKind(Enum):
    PERSON = "person"
    CAR = "car"


SIZE_M = {ActorKind.PERSON: (0.6, 0.6), ActorKind.CAR: (4.5, 1.9)}  # length, width
PERSON_COLOURS = ((40, 200, 255), (255, 180, 40), (230, 230, 230), (30, 30, 30), (200, 60, 200))
CAR_COLOURS = ((240, 240, 240), (40, 40, 40), (200, 120, 30), (60, 160, 60), (30, 200, 230))
SCENE_TIME_SHIFT_S = 1000.0  # each scene's crowd runs this much later: not the same choreography
GETAWAY_PERIOD_S = 600.0
GETAWAY_DEPART_S = 60.0  # into each period the car leaves the scene
CAR_DRIVE_S = 240.0
CAR_SPEED_M_S = (10.0, 15.0)
RUNNER_DELAY_S = 15.0  # the runner leaves this long after the car
RUNNER_RUN_S = 180.0
RUNNER_SPEED_M_S = (3.0, 5.0)
GETAWAY_CAR_COLOUR = (170, 60, 20)  # BGR: a dark blue car
GETAWAY_RUNNER_COLOUR = (0, 220, 255)  # a yellow jacket
M_PER_DEG_LAT = math.radians(1.0) * 6_371_008.8


@dataclass(frozen=True, slots=True)
class Actor:
    ident: int
    kind: ActorKind
    north_m: float
    east_m: float
    heading_deg: float
    speed_m_s: float
    colour: tuple[int, int, int]  # BGR

    @property
    def length_m(self) -> float:
        return SIZE_M[self.kind][0]

    @property
    def width_m(self) -> float:
        return SIZE_M[self.kind][1]


@dataclass(frozen=True, slots=True)
class _Track:
    ident: int
    kind: ActorKind
    start: tuple[float, float]  # north, east
    heading_deg: float
    length_m: float
    speed_m_s: float
    phase_s: float
    colour: tuple[int, int, int]

    def at(self, t_s: float) -> Actor:
        period = 2 * self.length_m / self.speed_m_s
        u = ((t_s + self.phase_s) % period) / period  # 0..1 over a there-and-back
        along = self.length_m * (2 * u if u < 0.5 else 2 - 2 * u)
        heading = self.heading_deg if u < 0.5 else (self.heading_deg + 180.0) % 360.0
        h = math.radians(self.heading_deg)
        return Actor(
            self.ident,
            self.kind,
            self.start[0] + along * math.cos(h),
            self.start[1] + along * math.sin(h),
            heading,
            self.speed_m_s,
            self.colour,
        )


@dataclass(frozen=True, slots=True)
class Getaway:
    """One actor fleeing a scene along the streets during one period: waits at route[0] from the
    period's start, leaves at depart_s (simulated seconds), gone after depart_s + duration_s."""

    ident: int
    kind: ActorKind
    route: tuple[tuple[float, float], ...]  # north, east metres from the scene's centre
    speed_m_s: float
    period_start_s: float
    depart_s: float
    duration_s: float
    colour: tuple[int, int, int]
    scene_lat_deg: float
    scene_lon_deg: float

    def at(self, t_s: float) -> Actor | None:
        """The actor at t_s (None outside its period or after it got away)."""
        if not self.period_start_s <= t_s < self.depart_s + self.duration_s:
            return None
        moving = t_s >= self.depart_s
        along = self.speed_m_s * max(t_s - self.depart_s, 0.0)
        (n, e), heading = _along(self.route, along)
        return Actor(self.ident, self.kind, n, e, heading, self.speed_m_s if moving else 0.0,
                     self.colour)

    def lat_lon_at(self, t_s: float) -> tuple[float, float] | None:
        """Its true position (WGS84 degrees) at t_s, None when not there."""
        a = self.at(t_s)
        if a is None:
            return None
        m_lon = M_PER_DEG_LAT * math.cos(math.radians(self.scene_lat_deg))
        return (self.scene_lat_deg + a.north_m / M_PER_DEG_LAT,
                self.scene_lon_deg + a.east_m / m_lon)


def _along(route: tuple[tuple[float, float], ...], dist_m: float
           ) -> tuple[tuple[float, float], float]:
    """The point dist_m along a polyline and the heading (deg) of its segment there."""
    heading = 0.0
    for (n0, e0), (n1, e1) in itertools.pairwise(route):
        seg = math.hypot(n1 - n0, e1 - e0)
        heading = math.degrees(math.atan2(e1 - e0, n1 - n0)) % 360.0
        if dist_m <= seg or seg <= 0:
            k = dist_m / seg if seg > 0 else 0.0
            return (n0 + k * (n1 - n0), e0 + k * (e1 - e0)), heading
        dist_m -= seg
    return route[-1], heading


def street_route(rng: random.Random, lat_deg: float, lon_deg: float, length_m: float,
                 turn_p: float, nearest: bool = True) -> tuple[tuple[float, float], ...]:
    """A route from the street nearest a point (metres from it; ``nearest`` False: the nearest
    street the other way) along the street grid (sitl/camera/scene.py), at least length_m long:
    straight on or turning at junctions, never back towards the start."""
    m_lon = M_PER_DEG_LAT * math.cos(math.radians(lat_deg))
    step_n, step_e = STREET_LAT_DEG * M_PER_DEG_LAT, STREET_LON_DEG * m_lon
    street_n = (round(lat_deg / STREET_LAT_DEG) * STREET_LAT_DEG - lat_deg) * M_PER_DEG_LAT
    street_e = (round(lon_deg / STREET_LON_DEG) * STREET_LON_DEG - lon_deg) * m_lon
    sign = rng.choice((-1.0, 1.0))
    if (abs(street_n) <= abs(street_e)) == nearest:  # the east-west street: east or west
        pos, d = (street_n, 0.0), (0.0, sign)
    else:
        pos, d = (0.0, street_e), (sign, 0.0)
    route = [pos]
    total = 0.0
    while total < length_m:
        # the next junction ahead: the next street crossing this one
        if d[0] == 0.0:
            grid, here, step = street_e, pos[1], step_e
        else:
            grid, here, step = street_n, pos[0], step_n
        k = math.floor((here - grid) / step + 1e-9) + 1 if (d[0] + d[1]) > 0 else math.ceil(
            (here - grid) / step - 1e-9) - 1
        nxt_c = grid + k * step
        nxt = (pos[0], nxt_c) if d[0] == 0.0 else (nxt_c, pos[1])
        total += math.hypot(nxt[0] - pos[0], nxt[1] - pos[1])
        pos = nxt
        route.append(pos)
        if rng.random() < turn_p:
            turn = (d[1], -d[0]) if rng.random() < 0.5 else (-d[1], d[0])
            # never turn back towards the scene
            if (pos[0] + turn[0] * 10) ** 2 + (pos[1] + turn[1] * 10) ** 2 > pos[0] ** 2 + pos[
                    1] ** 2:
                d = turn
    return tuple(route)


class Crowd:
    """`people` walkers within radius_m of the centre and `cars` driving through it."""

    def __init__(self, seed: int = 0, people: int = 14, cars: int = 4, radius_m: float = 35.0):
        if people < 0 or cars < 0 or radius_m <= 0:
            raise ValueError("a crowd needs non-negative counts and a positive radius")
        rng = random.Random(seed)
        tracks: list[_Track] = []
        for k in range(people):
            r, a = radius_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            length = rng.uniform(6.0, 25.0)
            heading = rng.uniform(0.0, 360.0)
            start = (r * math.cos(a) - length / 2 * math.cos(math.radians(heading)),
                     r * math.sin(a) - length / 2 * math.sin(math.radians(heading)))
            tracks.append(_Track(k, ActorKind.PERSON, start, heading, length,
                                 rng.uniform(0.8, 1.6), rng.uniform(0, 60),
                                 PERSON_COLOURS[rng.randrange(len(PERSON_COLOURS))]))
        for k in range(cars):
            heading = rng.choice((0.0, 90.0)) + rng.choice((0.0, 180.0))
            offset = rng.uniform(-radius_m, radius_m)
            h = math.radians(heading)
            length = 6 * radius_m
            start = (-length / 2 * math.cos(h) - offset * math.sin(h),
                     -length / 2 * math.sin(h) + offset * math.cos(h))
            tracks.append(_Track(people + k, ActorKind.CAR, start, heading, length,
                                 rng.uniform(4.0, 9.0), rng.uniform(0, 60),
                                 CAR_COLOURS[rng.randrange(len(CAR_COLOURS))]))
        self._tracks = tuple(tracks)
        self.seed = seed

    def __len__(self) -> int:
        return len(self._tracks)

    def at(self, t_s: float) -> list[Actor]:
        """Every actor at time t_s (simulated seconds), metres from the scene's centre."""
        return [tr.at(t_s) for tr in self._tracks]

    def getaways(self, lat_deg: float, lon_deg: float, t_s: float) -> tuple[Getaway, Getaway]:
        """The car and the runner fleeing the scene at lat, lon in the period of simulated time
        t_s (the same for any scene in the same street block)."""
        period = math.floor(t_s / GETAWAY_PERIOD_S)
        start = period * GETAWAY_PERIOD_S
        out = []
        for i, (kind, speeds, delay, duration, turn_p, colour) in enumerate((
                (ActorKind.CAR, CAR_SPEED_M_S, 0.0, CAR_DRIVE_S, 0.3, GETAWAY_CAR_COLOUR),
                (ActorKind.PERSON, RUNNER_SPEED_M_S, RUNNER_DELAY_S, RUNNER_RUN_S, 0.4,
                 GETAWAY_RUNNER_COLOUR))):
            block = (round(lat_deg / STREET_LAT_DEG), round(lon_deg / STREET_LON_DEG))
            rng = random.Random(f"{self.seed}/{block}/{period}/{i}")
            speed = rng.uniform(*speeds)
            # the runner starts on the other street: the two are not on top of each other
            route = street_route(rng, lat_deg, lon_deg, speed * duration + 1.0, turn_p,
                                 nearest=kind is ActorKind.CAR)
            out.append(Getaway(len(self._tracks) + i, kind, route, speed, start,
                               start + GETAWAY_DEPART_S + delay, duration, colour, lat_deg,
                               lon_deg))
        return out[0], out[1]

    def at_scene(self, sim_time_s: float, scene: int, lat_deg: float, lon_deg: float
                 ) -> list[Actor]:
        """Scene number `scene` (at lat, lon) at simulated time sim_time_s, as the camera sees it:
        its crowd (time-shifted per scene) and its getaways."""
        actors = self.at(sim_time_s + SCENE_TIME_SHIFT_S * scene)
        for g in self.getaways(lat_deg, lon_deg, sim_time_s):
            a = g.at(sim_time_s)
            if a is not None:
                actors.append(a)
        return actors

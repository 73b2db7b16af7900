"""People and vehicles moving near the scene: seeded, repeatable, a closed-form function of time.

    crowd = Crowd(seed=3)
    for a in crowd.at(t_s):          # metres north/east of the scene's centre
        a.kind, a.north_m, a.east_m, a.heading_deg, a.speed_m_s

Each actor walks (or drives) back and forth along its own straight track near the centre, so
where it is at time t depends only on (seed, t): the same seed and time give the same picture,
whatever the frame rate. Pure; the renderer draws them, the tracking work (issue #18) can read
their ground truth.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import Enum


class ActorKind(Enum):
    PERSON = "person"
    CAR = "car"


SIZE_M = {ActorKind.PERSON: (0.6, 0.6), ActorKind.CAR: (4.5, 1.9)}  # length, width
PERSON_COLOURS = ((40, 200, 255), (255, 180, 40), (230, 230, 230), (30, 30, 30), (200, 60, 200))
CAR_COLOURS = ((240, 240, 240), (40, 40, 40), (200, 120, 30), (60, 160, 60), (30, 200, 230))


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

    def __len__(self) -> int:
        return len(self._tracks)

    def at(self, t_s: float) -> list[Actor]:
        """Every actor at time t_s (simulated seconds), metres from the scene's centre."""
        return [tr.at(t_s) for tr in self._tracks]

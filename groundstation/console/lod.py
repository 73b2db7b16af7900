"""Level of detail for the map's symbols: how much to draw for how many drones at what zoom.

Pure (no Qt), so the rule is tested on its own. With many drones on the map every symbol's
labels and every trail point cost paint time on each frame, and at a city-wide zoom 250 labelled
symbols overlap into an unreadable block anyway. Above :data:`MANY_DRONES` the map draws simple
glyphs (an arrow without its outline), labels only once zoomed in to :data:`LABEL_PX_PER_M` (the
selected drone keeps its labels at every zoom: see ``DroneItem``), and every other trail point.
"""

from __future__ import annotations

from dataclasses import dataclass

MANY_DRONES = 150
"""More drones than this on the map: the reduced level of detail."""
LABEL_PX_PER_M = 0.15
"""From this scale on (about web zoom 15, a 1:10,000 view) labels come back with many drones."""


@dataclass(frozen=True, slots=True)
class Detail:
    labels: bool
    """Every drone's id and altitude beside its arrow (the selected drone's always)."""
    simple: bool
    """The arrow alone, without its white outline and without anti-aliasing."""
    trail_step: int
    """Draw every n-th trail point (the newest always)."""


FULL = Detail(labels=True, simple=False, trail_step=1)


def detail(drones: int, px_per_m: float) -> Detail:
    """The level of detail for ``drones`` drone symbols on the map at ``px_per_m`` pixels per
    scene metre."""
    if drones <= MANY_DRONES:
        return FULL
    zoomed_in = px_per_m >= LABEL_PX_PER_M
    return Detail(labels=zoomed_in, simple=not zoomed_in, trail_step=1 if zoomed_in else 2)


def decimate(points: list[tuple[float, float]], step: int) -> list[tuple[float, float]]:
    """Every ``step``-th point counted back from the newest, which is always kept (it is where
    the trail meets the drone)."""
    if step <= 1 or len(points) <= 2:
        return points
    return points[::-1][::step][::-1]

"""A controller with no vehicles and no broker (a recording bus), for fuzzing its inbound
handlers directly: thousands of cases a second, the same code the reader calls."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import msgspec
from hypothesis import strategies as st

from groundstation import contract as c
from groundstation.adapters.docks import DockLink
from groundstation.adapters.journal import Journal
from groundstation.controller import Controller, ControllerConfig
from groundstation.core.vehicle import VehicleLink
from missions.airspace import Airspace
from missions.sites import load_sites

EXAMPLES = int(os.environ.get("GS_FUZZ_EXAMPLES", "1000"))
"""Cases per inbound topic (CI: 1,000; a soak: GS_FUZZ_EXAMPLES=100000)."""

SITES = load_sites("met-trial")
DRONES = [d.drone_id for d in SITES.docks]
DOCKS = [d.dock_id for d in SITES.docks]
USERS = ["dispatcher", "pilot", "pilot2", "cad", "viewer", "nobody", "dock-west-end-1"]


@dataclass
class RecordingBus:
    """Stands in for groundstation.adapters.bus.Bus: keeps what would have been published."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)
    connected: bool = True

    async def publish(self, topic: str, payload: bytes, **_: Any) -> bool:
        self.sent.append((topic, payload))
        return True

    def set_birth(self, *_: Any, **__: Any) -> None: ...
    def on_connect(self, *_: Any) -> None: ...


class NoFleet:
    def get(self, drone_id: str) -> VehicleLink | None:
        return None

    def links(self) -> list[VehicleLink]:
        return []


_AIRSPACE: Airspace | None = None


def make_controller() -> tuple[Controller, RecordingBus]:
    global _AIRSPACE  # noqa: PLW0603 - loaded once, it is immutable
    if _AIRSPACE is None:
        _AIRSPACE = Airspace.load_default()
    bus = RecordingBus()
    docks = DockLink(bus, DOCKS)  # type: ignore[arg-type]
    ctl = Controller(
        ControllerConfig(site_set=SITES),
        fleet=NoFleet(),
        bus=bus,  # type: ignore[arg-type]
        journal=Journal(":memory:"),
        docks=docks,
        airspace=_AIRSPACE,
    )
    return ctl, bus


def snapshot(ctl: Controller) -> bytes:
    """Everything a refused request must leave unchanged."""
    return msgspec.json.encode(
        {
            "sorties": {k: rt.sortie for k, rt in ctl.drones.items()},
            "incidents": ctl.incidents,
            "queue": ctl.queue,
        }
    )


# --- strategies ---------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 91.0, -181.0, 0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=40))
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "lat_deg",
    "lon_deg",
    "priority",
    "summary",
    "incident_id",
    "drone_id",
    "alt_rel_m",
    "radius_m",
    "speed_m_s",
]
DATA = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)),
    st.one_of(
        JSONISH,
        st.sampled_from([*DRONES, "uav-nowhere", "", "../x", "#", "+"]),
        st.floats(min_value=51.2, max_value=51.7),
        st.floats(min_value=-0.5, max_value=0.3),
    ),
    max_size=6,
)
METHODS = st.one_of(st.sampled_from([m.value for m in c.OperatorMethod]), st.text(max_size=20))


def _dumps(obj: Any) -> bytes:
    """JSON that may hold NaN and Infinity literals, as a hostile client might send."""
    import json

    return json.dumps(obj, allow_nan=True, default=str).encode()


@st.composite
def service_payloads(draw: st.DrawFn, tids: list[str]) -> bytes:
    """A request on operators/{user}/services: well-formed with hostile data, or broken."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return _dumps(draw(JSONISH))
    if kind == 2:
        return b'{"tid": "' + b"x" * draw(st.integers(60, 70_000)) + b'"}'
    tid = draw(st.one_of(st.sampled_from(tids), st.text(min_size=0, max_size=70)))
    envelope: dict[str, Any] = {
        "tid": tid,
        "bid": draw(st.text(max_size=10)),
        "timestamp": draw(
            st.one_of(st.just(c.now_ms()), st.integers(-(2**63), 2**63), NUMBERS, st.text())
        ),
        "method": draw(METHODS),
        "data": draw(DATA),
    }
    for key in draw(st.lists(st.sampled_from(list(envelope)), max_size=2)):
        envelope.pop(key, None)  # missing fields
    return _dumps(envelope)


@st.composite
def dock_messages(draw: st.DrawFn) -> tuple[str, bytes]:
    dock = draw(st.sampled_from([*DOCKS, "nowhere", "+"]))
    leaf = draw(st.sampled_from(["osd", "state", "status", "services_reply", "events"]))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        payload = draw(st.binary(max_size=200))
    elif kind == 1:
        payload = _dumps(draw(JSONISH))
    else:
        payload = _dumps(
            {
                "tid": draw(st.text(max_size=70)),
                "bid": draw(st.text(max_size=10)),
                "timestamp": draw(st.one_of(st.just(c.now_ms()), NUMBERS)),
                "method": draw(st.sampled_from([m.value for m in c.DockMethod] + ["x"])),
                "need_reply": draw(st.integers(-1, 2)),
                "data": draw(DATA | st.dictionaries(st.text(max_size=10), JSONISH, max_size=5)),
                "status": draw(st.sampled_from(["online", "offline", "", "x"])),
                "wind_speed_m_s": draw(NUMBERS),
                "rainfall": draw(NUMBERS),
            }
        )
    return f"{c.PREFIX}/docks/{dock}/{leaf}", payload

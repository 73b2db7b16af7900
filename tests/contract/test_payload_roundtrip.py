"""Every payload type of the contract survives encode -> decode unchanged."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundstation import contract as c
from groundstation.tools import asyncapi

pytestmark = pytest.mark.unit

EXAMPLES = asyncapi._examples()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_channel_examples_round_trip(name: str) -> None:
    channel = next(ch for ch in c.ALL_CHANNELS if ch.name == name)
    obj = EXAMPLES[name]
    # A struct, or the CAP alert's XML text (a JSON string here, like any str payload).
    assert msgspec.json.decode(msgspec.json.encode(obj), type=channel.payload) == obj
    # The generic envelopes read the typed ones too (the controller decodes Request first).
    if name in ("dockServices", "dockEvents", "operatorServices"):
        assert isinstance(obj, msgspec.Struct)
        generic = c.decode(c.encode(obj), c.Request)
        assert generic.tid == msgspec.structs.asdict(obj)["tid"]


@pytest.mark.parametrize("method", list(c.OperatorMethod))
def test_every_operator_method_has_a_typed_envelope(method: c.OperatorMethod) -> None:
    kind = c.OPERATOR_REQUESTS[method]
    raw = {"tid": "t", "timestamp": 1, "method": method.value,
           "data": {"drone_id": "u", "incident_id": "i", "lat_deg": 1.0, "lon_deg": 2.0,
                    "alt_rel_m": 50.0, "plan": {"fileType": "Plan"},
                    "action": "look_at", "dock_id": "k1", "method": "device_reboot",
                    "site_id": "s", "alt_amsl_m": 40.0,
                    "agencies": ["lfb"], "reason": "asked by LFB", "methane": {},
                    "incident_type": "fire", "request_id": "r1", "decision": "approve",
                    "link_id": "lnk-1", "source": "unit", "unit_id": "car-1"}}
    data_type = c.OPERATOR_DATA[method]
    fields = set(data_type.__struct_fields__)
    raw["data"] = {k: v for k, v in raw["data"].items() if k in fields}  # type: ignore[attr-defined]
    obj = msgspec.json.decode(msgspec.json.encode(raw), type=c.OperatorRequest)
    assert type(obj) is kind
    assert msgspec.json.decode(c.encode(obj), type=c.OperatorRequest) == obj


@settings(max_examples=50, deadline=None)
@given(
    percent=st.integers(0, 100),
    status=st.sampled_from(list(c.JobStatus)),
    reason=st.none() | st.text(max_size=40),
    method=st.sampled_from(list(c.DockMethod)),
)
def test_dock_events_round_trip(
    percent: int, status: c.JobStatus, reason: str | None, method: c.DockMethod
) -> None:
    event = c.DockEvent(
        tid=c.new_tid(), bid="b", timestamp=c.now_ms(), method=method,
        data=c.DockJobEventData(result=0, output=c.JobEventOutput(
            status=status, progress=c.JobProgress(percent=percent), reason=reason)),
    )
    payload = c.encode(event)
    assert c.decode(payload, c.DockEvent) == event
    asyncapi.validate(c.dock_topic("d-1", "events"), payload)


@settings(max_examples=50, deadline=None)
@given(
    lat=st.floats(-90, 90), lon=st.floats(-180, 180), wind=st.floats(0, 40),
    rain=st.integers(0, 3), cover=st.sampled_from(list(c.CoverState)),
)
def test_dock_osd_round_trips(
    lat: float, lon: float, wind: float, rain: int, cover: c.CoverState
) -> None:
    osd = c.DockOsd(dock_id="d-1", ts_ms=1, mode_code=c.DockMode.IDLE, cover_state=cover,
                    drone_in_dock=True,
                    drone_charge_state=c.ChargeState(state=0, capacity_percent=50.0),
                    wind_speed_m_s=wind, rainfall=rain, environment_temperature_c=10.0,
                    emergency_stop_state=False, lat_deg=lat, lon_deg=lon)
    assert c.decode(c.encode(osd), c.DockOsd) == osd
    asyncapi.validate(c.dock_topic("d-1", "osd"), c.encode(osd))

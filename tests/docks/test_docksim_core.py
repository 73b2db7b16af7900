"""DockSim without any IO: time is passed in, messages come out."""

from __future__ import annotations

import msgspec
import pytest

from groundstation import contract as c
from groundstation.docksim import COVER_S, DockSim, Out, apply_step, parse_script
from groundstation.tools import asyncapi
from missions.geo import offset
from missions.sites import Dock

pytestmark = pytest.mark.unit

DOCK = Dock("d-1", "site", 51.5, -0.1, 40.0, "uav-d-1", 1, 0)
T0 = 1_800_000_000_000


def sim(**kw: object) -> tuple[DockSim, list[float]]:
    clock = [0.0]
    s = DockSim(DOCK, clock=lambda: clock[0], wall_ms=lambda: T0 + int(clock[0] * 1000),
                **kw)  # type: ignore[arg-type]
    return s, clock


def request(method: str, tid: str = "t1", bid: str = "b1", ts: int = T0) -> bytes:
    return msgspec.json.encode({"tid": tid, "bid": bid, "timestamp": ts, "method": method,
                                "data": {}})


def events(outs: list[Out]) -> list[c.DockEvent]:
    return [c.decode(o.payload, c.DockEvent) for o in outs if o.leaf == "events"]


def run(s: DockSim, clock: list[float], until_s: float, dt: float = 0.1) -> list[Out]:
    outs: list[Out] = []
    while clock[0] < until_s:
        clock[0] += dt
        outs += s.step(clock[0])
    return outs



def cover(s: DockSim) -> c.CoverState:
    """The cover now, read afresh after the simulated time moved (mypy keeps an assert's
    narrowing across calls that change it)."""
    return s.cover


def offline(s: DockSim) -> bool:
    """Whether the dock is offline now, read afresh (as ``cover``)."""
    return s.offline

def test_cover_open_takes_twelve_seconds_with_quarter_progress() -> None:
    s, clock = sim()
    s.step(0.0)
    first = s.handle_service(request("cover_open"), 0.0)
    reply = c.decode(first[0].payload, c.Reply)
    assert (reply.tid, reply.bid, reply.data.result) == ("t1", "b1", 0)
    assert reply.data.output == {"status": "in_progress"}
    assert s.cover == c.CoverState.HALF_OPEN
    outs = first + run(s, clock, COVER_S - 0.5)
    assert cover(s) == c.CoverState.HALF_OPEN
    outs += run(s, clock, COVER_S + 0.5)
    evs = events(outs)
    assert [e.data.output.progress.percent for e in evs] == [0, 25, 50, 75, 100]
    assert evs[-1].data.output.status == c.JobStatus.OK
    assert {e.bid for e in evs} == {"b1"}
    assert len({e.tid for e in evs}) == 5
    assert cover(s) == c.CoverState.OPEN
    for out in outs:  # everything the dock says is valid on its channel
        asyncapi.validate(c.dock_topic("d-1", out.leaf), out.payload)


def test_speedup_divides_job_time() -> None:
    s, clock = sim(speedup=10.0)
    s.handle_service(request("cover_open"), 0.0)
    run(s, clock, COVER_S / 10 + 0.2)
    assert s.cover == c.CoverState.OPEN


def test_osd_is_1hz_idle_and_2hz_during_a_job_state_only_on_change() -> None:
    s, clock = sim()
    outs = run(s, clock, 10.0)
    assert sum(o.leaf == "osd" for o in outs) == 10
    assert sum(o.leaf == "state" for o in outs) == 1
    s.handle_service(request("cover_open"), clock[0])
    outs = run(s, clock, 15.0)
    assert 9 <= sum(o.leaf == "osd" for o in outs) <= 11  # 5 s at 2 Hz
    state = [o for o in outs if o.leaf == "state"]
    assert state
    assert all(o.retain and o.qos == 1 for o in state)


def test_weather_is_seeded_and_scriptable() -> None:
    a, ca = sim(seed=7)
    b, cb = sim(seed=7)
    other, co = sim(seed=8)
    wa = [o.payload for o in run(a, ca, 30.0) if o.leaf == "osd"]
    wb = [o.payload for o in run(b, cb, 30.0) if o.leaf == "osd"]
    wo = [o.payload for o in run(other, co, 30.0) if o.leaf == "osd"]
    assert wa == wb
    assert wa != wo
    a.set_weather(wind_speed_m_s=13.5, rainfall=2, temperature_c=-3.0)
    run(a, ca, 100.0)
    osd = a.osd()
    assert (osd.wind_speed_m_s, osd.rainfall, osd.environment_temperature_c) == (13.5, 2, -3.0)
    a.release_weather()
    run(a, ca, 400.0)
    assert 0.0 <= a.osd().wind_speed_m_s <= 15.0


def test_drone_sensed_in_dock_and_charging_follows_battery() -> None:
    s, _ = sim()
    tel = {"drone_id": "uav-d-1", "ts_ms": T0, "seq": 1, "lat_deg": DOCK.lat_deg,
           "lon_deg": DOCK.lon_deg, "alt_rel_m": 0.0, "alt_amsl_m": 40.0, "heading_deg": 0.0,
           "ground_speed_m_s": 0.0, "climb_m_s": 0.0, "battery_pct": 40.0, "battery_v": 22.0,
           "flight_mode": "HOLD", "armed": False, "in_air": False, "gps_fix": 3,
           "satellites": 12, "link_ok": True}
    s.on_telemetry(msgspec.json.encode(tel))
    osd = s.osd()
    assert osd.drone_in_dock
    assert osd.drone_charge_state == c.ChargeState(state=1, capacity_percent=40.0)
    s.on_telemetry(msgspec.json.encode({**tel, "in_air": True, "alt_rel_m": 10.0}))
    assert not s.osd().drone_in_dock
    assert s.osd().drone_charge_state.state == 0
    far = offset(DOCK.lat_deg, DOCK.lon_deg, 0.0, 5.0)
    s.on_telemetry(msgspec.json.encode({**tel, "lat_deg": far.lat_deg, "lon_deg": far.lon_deg}))
    assert not s.osd().drone_in_dock
    near = offset(DOCK.lat_deg, DOCK.lon_deg, 2.0, 0.0)
    s.on_telemetry(msgspec.json.encode({**tel, "lat_deg": near.lat_deg, "lon_deg": near.lon_deg}))
    assert s.osd().drone_in_dock
    s.on_telemetry(b"garbage")  # ignored
    assert s.osd().drone_in_dock


def test_duplicate_tid_is_answered_again_not_rerun_and_expired_is_refused() -> None:
    s, _ = sim()
    first = s.handle_service(request("drone_open"), 0.0)
    again = s.handle_service(request("drone_open"), 0.1)
    assert again == first[:1]
    assert s.counters.methods == ["drone_open"]
    old = s.handle_service(request("cover_open", tid="t9", bid="b9", ts=T0 - 31_000), 0.2)
    assert c.decode(old[0].payload, c.Reply).data.result == c.Result.EXPIRED


def test_emergency_stop_fails_a_running_job() -> None:
    s, clock = sim()
    s.handle_service(request("cover_open"), 0.0)
    run(s, clock, 2.0)
    s.press_emergency_stop()
    evs = events(run(s, clock, 2.5))
    assert evs[-1].data.output.status == c.JobStatus.FAILED
    assert evs[-1].data.output.reason == "emergency stop pressed"
    assert evs[-1].data.result != 0
    refused = s.handle_service(request("cover_open", tid="t2", bid="b2", ts=T0 + 2500), 2.5)
    assert c.decode(refused[0].payload, c.Reply).data.result == c.Result.DOCK_FAULT


def test_script_steps_drive_the_scripting_api() -> None:
    s, clock = sim()
    steps = parse_script([
        {"at_s": 5, "dock": "d-1", "action": "press_emergency_stop"},
        {"at_s": 1, "action": "set_weather", "args": {"wind_speed_m_s": 11.0, "rainfall": 3}},
        {"at_s": 2, "dock": "d-1", "action": "go_offline", "args": {"for_s": 10}},
    ])
    assert [st.at_s for st in steps] == [1.0, 2.0, 5.0]
    for step in steps:
        apply_step({"d-1": s}, step)
    assert (s.weather.wind_speed_m_s, s.weather.rainfall) == (11.0, 3)
    assert s.offline
    clock[0] = 11.0
    assert not offline(s)
    assert s.osd().emergency_stop_state

"""groundstation.control.telemetry: what each telemetry message says and when it goes out (its rate
in the air and on the ground, a flag change at once, a silent drone still once a second), with a
fake host and bus."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from groundstation import contract as c
from groundstation.control.telemetry import STALE_REPEAT_S, TelemetryFanout, message, next_due_s
from groundstation.core.vehicle import FlightMode
from tests.unit.fakes import SITES, FakeHost, at

pytestmark = pytest.mark.unit

DOCK = SITES.docks[0]
DRONE = DOCK.drone_id
CFG = FakeHost().config


def test_the_next_message_is_due_at_the_rate_of_the_air_or_the_ground() -> None:
    ground = at(DOCK, updated_s=100.0)
    air = replace(ground, in_air=True)
    assert next_due_s(ground, CFG) == pytest.approx(100.0 + 1.0 / CFG.telemetry_hz_ground - 0.05)
    assert next_due_s(air, CFG) == pytest.approx(100.0 + 1.0 / CFG.telemetry_hz_air - 0.05)


def test_a_message_has_finite_numbers_a_clamped_battery_and_the_samples_age() -> None:
    smp = at(DOCK, alt_rel_m=math.nan, battery_pct=104.0, updated_s=10.0)
    tel = message(DRONE, 7, smp, link_ok=True, phase=c.Phase.DOCKED, now=10.25, ts_ms=1)
    assert (tel.seq, tel.alt_rel_m, tel.battery_pct, tel.age_ms) == (7, 0.0, 100.0, 250)
    never = replace(smp, updated_s=0.0)
    assert message(DRONE, 1, never, link_ok=False, phase=c.Phase.DOCKED, now=1.0,
                   ts_ms=1).age_ms is None


def _fanout() -> tuple[FakeHost, TelemetryFanout]:
    host = FakeHost()
    return host, TelemetryFanout(host)


def test_publish_queues_one_message_numbered_and_shares_it() -> None:
    host, fan = _fanout()
    rt = host.state.drones[DRONE]
    smp = at(DOCK, updated_s=5.0)
    fan.publish(DRONE, rt, smp, 5.01)
    fan.publish(DRONE, rt, smp, 5.02)
    assert [t for t, _ in host.fake_bus.nowait] == [c.drone_telemetry(DRONE)] * 2
    sent = [c.decode(b, c.Telemetry) for _, b in host.fake_bus.nowait]
    assert [t.seq for t in sent] == [1, 2]
    assert host.shared == [(DRONE, b) for _, b in host.fake_bus.nowait]
    assert fan.published == 2


def test_a_dropped_message_is_not_counted_as_published() -> None:
    host, fan = _fanout()
    host.fake_bus.accept_nowait = False
    fan.publish(DRONE, host.state.drones[DRONE], at(DOCK), 1.0)
    assert fan.published == 0


def test_tick_sends_a_flag_change_at_once_and_repeats_a_silent_drone_each_second() -> None:
    host, fan = _fanout()
    rt = host.state.drones[DRONE]
    smp = at(DOCK, updated_s=1.0)
    fan.tick(DRONE, rt, smp, 1.0)  # first sight: flags unknown
    fan.tick(DRONE, rt, smp, 1.1)  # nothing new
    assert len(host.fake_bus.nowait) == 1
    fan.tick(DRONE, rt, replace(smp, armed=True, flight_mode=FlightMode.TAKEOFF), 1.2)
    assert len(host.fake_bus.nowait) == 2
    armed = replace(smp, armed=True, flight_mode=FlightMode.TAKEOFF)
    fan.tick(DRONE, rt, armed, 1.2 + STALE_REPEAT_S - 0.01)
    assert len(host.fake_bus.nowait) == 2
    fan.tick(DRONE, rt, armed, 1.2 + STALE_REPEAT_S)
    assert len(host.fake_bus.nowait) == 3


def test_a_drone_without_a_position_is_not_published() -> None:
    host, fan = _fanout()
    fan.tick(DRONE, host.state.drones[DRONE], at(DOCK, lat_deg=math.nan), 1.0)
    assert host.fake_bus.nowait == []


def test_attach_listens_to_a_vehicle_once() -> None:
    host, fan = _fanout()
    v = host.vehicle(DRONE)
    fan.attach(DRONE, v)
    first = v.listener
    fan.attach(DRONE, v)
    assert first is not None
    assert v.listener is first

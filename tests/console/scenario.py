"""Contract messages a test publishes in place of the simulator, docks and controller."""

from __future__ import annotations

import msgspec

from groundstation import contract as c
from groundstation.adapters.bus import Bus

HYDE_PARK = (51.50729, -0.16493)


def telemetry(
    drone_id: str,
    lat: float,
    lon: float,
    *,
    seq: int = 0,
    ts_ms: int | None = None,
    alt: float = 60.0,
    heading: float = 45.0,
    in_air: bool = True,
    battery: float = 80.0,
    phase: c.Phase | None = c.Phase.TRANSIT,
) -> c.Telemetry:
    return c.Telemetry(
        drone_id=drone_id,
        ts_ms=ts_ms if ts_ms is not None else c.now_ms(),
        seq=seq,
        lat_deg=lat,
        lon_deg=lon,
        alt_rel_m=alt,
        alt_amsl_m=alt + 30,
        heading_deg=heading,
        ground_speed_m_s=14.0,
        climb_m_s=0.0,
        battery_pct=battery,
        battery_v=15.8,
        flight_mode="HOLD" if not in_air else "MISSION",
        armed=in_air,
        in_air=in_air,
        gps_fix=3,
        satellites=14,
        link_ok=True,
        roll_deg=5.0,
        pitch_deg=-3.0,
        phase=phase,
    )


def drone_state(drone_id: str, phase: c.Phase = c.Phase.TRANSIT, **kw: object) -> c.DroneState:
    """The drone's retained state; ``kw`` sets any other of its fields."""
    state = c.DroneState(drone_id=drone_id, ts_ms=c.now_ms(), phase=phase)
    return msgspec.structs.replace(state, **kw)


def dock_osd(
    dock_id: str,
    *,
    in_dock: bool = True,
    cover: c.CoverState = c.CoverState.CLOSED,
    charging: bool = True,
) -> c.DockOsd:
    return c.DockOsd(
        dock_id=dock_id,
        ts_ms=c.now_ms(),
        mode_code=c.DockMode.IDLE,
        cover_state=cover,
        drone_in_dock=in_dock,
        drone_charge_state=c.ChargeState(state=1 if charging else 0, capacity_percent=64.0),
        wind_speed_m_s=4.2,
        rainfall=0,
        environment_temperature_c=12.0,
        emergency_stop_state=False,
    )


def incident(incident_id: str, lat: float, lon: float, **kw: object) -> c.Incident:
    """A new P1 incident made 75 s ago; ``kw`` sets any other of its fields."""
    new = c.Incident(
        incident_id=incident_id,
        lat_deg=lat,
        lon_deg=lon,
        status=c.IncidentStatus.NEW,
        priority=1,
        created_ms=c.now_ms() - 75_000,
        summary="test incident",
    )
    return msgspec.structs.replace(new, **kw)


async def publish(
    bus: Bus, topic: str, msg: msgspec.Struct, *, retain: bool = False, qos: int = 1
) -> None:
    await bus.publish(topic, c.encode(msg), qos=qos, retain=retain)


async def demo_scene(bus: Bus, duration_s: float, *, rate_hz: float = 10.0) -> None:
    """A small live picture for screenshots: docks, a controller, one incident, two drones.

    Telemetry timestamps run at 5x real time so that trails build up within seconds.
    """
    import asyncio
    import math

    from missions.geo import bearing_deg, destination, distance_m
    from missions.sites import load_sites

    sites = load_sites("met-trial")
    await publish(
        bus,
        c.controller_status("ctl-1"),
        c.ControllerStatus(
            controller_id="ctl-1", status="online", ts_ms=c.now_ms(), drones=len(sites.docks)
        ),
        retain=True,
    )
    flying = {"uav-hyde-park-1": "hyde-park-1", "uav-islington-2": "islington-2"}
    inc_pos = (51.5158, -0.1405)
    inc = incident(
        "inc-0001",
        *inc_pos,
        status=c.IncidentStatus.DISPATCHED,
        assigned_drone="uav-hyde-park-1",
        eta_s=95.0,
        summary="Robbery in progress",
        dispatched_ms=c.now_ms() - 30_000,
    )
    await publish(bus, c.incident("inc-0001"), inc, retain=True)
    hp = sites.dock("hyde-park-1")
    isl = sites.dock("islington-2")
    assert hp is not None and isl is not None
    await publish(
        bus,
        c.drone_state("uav-hyde-park-1"),
        drone_state(
            "uav-hyde-park-1",
            c.Phase.TRANSIT,
            incident_id="inc-0001",
            home_dock_id="hyde-park-1",
            target_lat_deg=inc_pos[0],
            target_lon_deg=inc_pos[1],
            eta_s=95.0,
        ),
        retain=True,
    )
    await publish(
        bus,
        c.drone_state("uav-islington-2"),
        drone_state(
            "uav-islington-2",
            c.Phase.RETURNING,
            home_dock_id="islington-2",
            target_lat_deg=isl.lat_deg,
            target_lon_deg=isl.lon_deg,
        ),
        retain=True,
    )
    t0 = c.now_ms()
    n = int(duration_s * rate_hz)
    leg = distance_m(hp.lat_deg, hp.lon_deg, *inc_pos)
    brg = bearing_deg(hp.lat_deg, hp.lon_deg, *inc_pos)
    for i in range(n):
        ts = t0 + int(i * 500)  # 5x time: half a second of flight per 0.1 s sample
        if i % int(rate_hz) == 0:
            for dock in sites.docks:
                out = dock.dock_id in flying.values()
                osd = dock_osd(
                    dock.dock_id,
                    in_dock=not out,
                    charging=not out and i % 3 == 0,
                    cover=c.CoverState.OPEN
                    if dock.dock_id == "hyde-park-1"
                    else c.CoverState.CLOSED,
                )
                await publish(bus, c.dock_topic(dock.dock_id, "osd"), osd, qos=0)
        s = min(leg * 0.7, 15.0 * i * 0.5)
        p1 = destination(hp.lat_deg, hp.lon_deg, brg, s)
        await publish(
            bus,
            c.drone_telemetry("uav-hyde-park-1"),
            telemetry(
                "uav-hyde-park-1",
                p1.lat_deg,
                p1.lon_deg,
                seq=i,
                ts_ms=ts,
                heading=brg,
                battery=92 - i * 0.05,
            ),
            qos=0,
        )
        ang = 2.2 + i * 0.01
        p2 = destination(isl.lat_deg, isl.lon_deg, math.degrees(ang), 1400 - i * 2.0)
        await publish(
            bus,
            c.drone_telemetry("uav-islington-2"),
            telemetry(
                "uav-islington-2",
                p2.lat_deg,
                p2.lon_deg,
                seq=i,
                ts_ms=ts,
                heading=(math.degrees(ang) + 180) % 360,
                alt=45,
                battery=41 - i * 0.02,
                phase=c.Phase.RETURNING,
            ),
            qos=0,
        )
        await asyncio.sleep(1 / rate_hz)

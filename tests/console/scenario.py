"""Contract messages a test publishes in place of the simulator, docks and controller."""

from __future__ import annotations

from groundstation import contract as c
from groundstation.bus import Bus

HYDE_PARK = (51.50729, -0.16493)


def telemetry(
    drone_id: str, lat: float, lon: float, *, seq: int = 0, ts_ms: int | None = None,
    alt: float = 60.0, heading: float = 45.0, in_air: bool = True, battery: float = 80.0,
    phase: c.Phase | None = c.Phase.TRANSIT,
) -> c.Telemetry:
    return c.Telemetry(
        drone_id=drone_id, ts_ms=ts_ms if ts_ms is not None else c.now_ms(), seq=seq,
        lat_deg=lat, lon_deg=lon, alt_rel_m=alt, alt_amsl_m=alt + 30, heading_deg=heading,
        ground_speed_m_s=14.0, climb_m_s=0.0, battery_pct=battery, battery_v=15.8,
        flight_mode="HOLD" if not in_air else "MISSION", armed=in_air, in_air=in_air, gps_fix=3,
        satellites=14, link_ok=True, roll_deg=5.0, pitch_deg=-3.0, phase=phase,
    )


def drone_state(drone_id: str, phase: c.Phase = c.Phase.TRANSIT, **kw: object) -> c.DroneState:
    return c.DroneState(drone_id=drone_id, ts_ms=c.now_ms(), phase=phase, **kw)  # type: ignore[arg-type]


def dock_osd(dock_id: str, *, in_dock: bool = True, cover: c.CoverState = c.CoverState.CLOSED,
             charging: bool = True) -> c.DockOsd:
    return c.DockOsd(
        dock_id=dock_id, ts_ms=c.now_ms(), mode_code=c.DockMode.IDLE, cover_state=cover,
        drone_in_dock=in_dock,
        drone_charge_state=c.ChargeState(state=1 if charging else 0, capacity_percent=64.0),
        wind_speed_m_s=4.2, rainfall=0, environment_temperature_c=12.0,
        emergency_stop_state=False,
    )


def incident(incident_id: str, lat: float, lon: float, **kw: object) -> c.Incident:
    fields: dict[str, object] = {
        "status": c.IncidentStatus.NEW, "priority": 1, "created_ms": c.now_ms() - 75_000,
        "summary": "test incident",
    }
    fields.update(kw)
    return c.Incident(incident_id=incident_id, lat_deg=lat, lon_deg=lon, **fields)  # type: ignore[arg-type]


async def publish(bus: Bus, topic: str, msg: object, *, retain: bool = False, qos: int = 1) -> None:
    await bus.publish(topic, c.encode(msg), qos=qos, retain=retain)  # type: ignore[arg-type]

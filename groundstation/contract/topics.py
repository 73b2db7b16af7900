"""Topic builders and subscription filters of the drones, docks, incidents, operators,
controllers, units, targets and traffic channels; ``parse_topic`` splits one back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from groundstation.contract._base import PREFIX


def drone_telemetry(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/telemetry"


def drone_state(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/state"


def drone_video(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/video"


def dock_topic(dock_id: str, leaf: str) -> str:
    """``docks/{dock_id}/{leaf}``: osd, state, status, services(_reply), events(_reply)."""
    if leaf not in DOCK_LEAVES:
        raise ValueError(f"unknown dock topic leaf {leaf!r}")
    return f"{PREFIX}/docks/{dock_id}/{leaf}"


DOCK_LEAVES: Final = (
    "osd",
    "state",
    "status",
    "services",
    "services_reply",
    "events",
    "events_reply",
    "assignment",
)


def incident(incident_id: str) -> str:
    return f"{PREFIX}/incidents/{incident_id}"


def drone_tracking(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/tracking"


def unit_position(unit_id: str) -> str:
    """A ground unit's automatic vehicle location (a police car's AVL), from CAD/AVL."""
    return f"{PREFIX}/units/{unit_id}/position"


def target_position(target_id: str) -> str:
    """A moving point CAD wants followed (a reported suspect's position)."""
    return f"{PREFIX}/targets/{target_id}/position"


def operator_services(username: str) -> str:
    return f"{PREFIX}/operators/{username}/services"


def operator_services_reply(username: str) -> str:
    return f"{PREFIX}/operators/{username}/services_reply"


def controller_status(controller_id: str) -> str:
    return f"{PREFIX}/controllers/{controller_id}/status"


def controller_events(controller_id: str) -> str:
    return f"{PREFIX}/controllers/{controller_id}/events"


def traffic_feed(feed_id: str) -> str:
    return f"{PREFIX}/traffic/feeds/{feed_id}"


def traffic_picture(controller_id: str) -> str:
    return f"{PREFIX}/traffic/picture/{controller_id}"


# Subscription filters.
ALL_TRAFFIC_FEEDS: Final = f"{PREFIX}/traffic/feeds/+"
ALL_TRAFFIC_PICTURES: Final = f"{PREFIX}/traffic/picture/+"
ALL_TELEMETRY: Final = f"{PREFIX}/drones/+/telemetry"
ALL_DRONE_STATE: Final = f"{PREFIX}/drones/+/state"
ALL_DRONE_VIDEO: Final = f"{PREFIX}/drones/+/video"
ALL_INCIDENTS: Final = f"{PREFIX}/incidents/+"
ALL_OPERATOR_SERVICES: Final = f"{PREFIX}/operators/+/services"
ALL_CONTROLLER_STATUS: Final = f"{PREFIX}/controllers/+/status"
ALL_CONTROLLER_EVENTS: Final = f"{PREFIX}/controllers/+/events"
ALL_DRONE_TRACKING: Final = f"{PREFIX}/drones/+/tracking"
ALL_UNIT_POSITIONS: Final = f"{PREFIX}/units/+/position"
ALL_TARGET_POSITIONS: Final = f"{PREFIX}/targets/+/position"


def all_dock(leaf: str) -> str:
    return f"{PREFIX}/docks/+/{leaf}"


@dataclass(frozen=True, slots=True)
class TopicRef:
    """A parsed topic: which channel kind and the ids in it."""

    kind: str  # "drone", "dock", "incident", "operator", "controller", "unit", "target"
    ident: str
    leaf: str  # e.g. "telemetry", "services"; "" for incidents


def parse_topic(topic: str) -> TopicRef | None:
    """Split a contract topic into its parts, or None for anything that is not ours."""
    parts = topic.split("/")
    if len(parts) < 3 or f"{parts[0]}/{parts[1]}" != PREFIX:
        return None
    kinds = {
        "drones": "drone",
        "docks": "dock",
        "operators": "operator",
        "controllers": "controller",
        "units": "unit",
        "targets": "target",
    }
    if parts[2] == "incidents" and len(parts) == 4:
        return TopicRef("incident", parts[3], "")
    if parts[2] in kinds and len(parts) == 5:
        return TopicRef(kinds[parts[2]], parts[3], parts[4])
    return None

"""Every channel of the contract: its address template, payload type and MQTT settings.
``groundstation.tools.asyncapi`` renders the document from these tables and validates against
them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from groundstation.contract._base import COMMAND_TTL_S, PREFIX, valid_id
from groundstation.contract.controllers import Alert, ControllerStatus
from groundstation.contract.docks import (
    DockAssignment,
    DockEvent,
    DockOsd,
    DockServiceRequest,
    DockState,
    Presence,
)
from groundstation.contract.drones import DroneState, Telemetry
from groundstation.contract.envelopes import Reply
from groundstation.contract.ha import Lease, Offer
from groundstation.contract.incidents import Incident
from groundstation.contract.operators import OperatorRequest
from groundstation.contract.partners import PartnerRequest, SharedIncident
from groundstation.contract.tracking import TargetPosition, TrackingStatus
from groundstation.contract.traffic import TrafficFeed, TrafficPicture
from groundstation.contract.video import VideoDescriptor


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of the contract: its address template, payload type and MQTT settings."""

    name: str
    address: str  # with {parameters}, e.g. "dfr/v1/docks/{dock_id}/osd"
    payload: Any  # a msgspec-decodable type
    qos: int
    retain: bool
    sender: str  # who publishes: controller, dock, operator (or cad)
    summary: str
    expiry_s: int | None = None
    last_will: str | None = None  # payload a Last Will puts here, if any
    id_field: str | None = None  # payload field that must equal the topic's id
    content_type: str = "application/json"  # CAP alerts are XML (application/cap+xml)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(p[1:-1] for p in self.address.split("/") if p.startswith("{"))

    def match(self, topic: str) -> dict[str, str] | None:
        """The parameter values if ``topic`` is on this channel, else None."""
        want, got = self.address.split("/"), topic.split("/")
        if len(want) != len(got):
            return None
        params: dict[str, str] = {}
        for w, g in zip(want, got, strict=True):
            if w.startswith("{"):
                if not valid_id(g):
                    return None
                params[w[1:-1]] = g
            elif w != g:
                return None
        return params


def _dock(leaf: str) -> str:
    return f"{PREFIX}/docks/{{dock_id}}/{leaf}"


CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "droneTelemetry",
        f"{PREFIX}/drones/{{drone_id}}/telemetry",
        Telemetry,
        0,
        False,
        "controller",
        "Drone position, attitude, battery and link; 10 Hz in flight.",
        id_field="drone_id",
    ),
    Channel(
        "droneState",
        f"{PREFIX}/drones/{{drone_id}}/state",
        DroneState,
        1,
        True,
        "controller",
        "Drone sortie phase, health gates, pilot and target; on change.",
        id_field="drone_id",
    ),
    Channel(
        "droneVideo",
        f"{PREFIX}/drones/{{drone_id}}/video",
        VideoDescriptor,
        1,
        True,
        "controller",
        "Where and how to watch a drone's live video, and why not when there is none.",
        id_field="drone_id",
    ),
    Channel(
        "droneTracking",
        f"{PREFIX}/drones/{{drone_id}}/tracking",
        TrackingStatus,
        1,
        True,
        "controller",
        "A drone's tracking of a moving target: state, source, target, distance, who and why.",
        id_field="drone_id",
    ),
    Channel(
        "unitPosition",
        f"{PREFIX}/units/{{unit_id}}/position",
        TargetPosition,
        0,
        False,
        "cad",
        "A ground unit's automatic vehicle location (position, velocity, time of fix).",
        id_field="id",
    ),
    Channel(
        "targetPosition",
        f"{PREFIX}/targets/{{target_id}}/position",
        TargetPosition,
        0,
        False,
        "cad",
        "A moving point CAD wants a drone to follow (same shape as a unit's position).",
        id_field="id",
    ),
    Channel(
        "dockOsd",
        _dock("osd"),
        DockOsd,
        0,
        False,
        "dock",
        "Dock telemetry: cover, charge, weather, emergency stop; 1 Hz, 2 Hz during a job.",
        id_field="dock_id",
    ),
    Channel(
        "dockState",
        _dock("state"),
        DockState,
        1,
        True,
        "dock",
        "Dock state on change: mode, cover, drone in dock, charging, fault.",
        id_field="dock_id",
    ),
    Channel(
        "dockStatus",
        _dock("status"),
        Presence,
        1,
        True,
        "dock",
        "Dock presence: online on connection, offline by the dock's Last Will.",
        last_will='{"status":"offline"}',
    ),
    Channel(
        "dockAssignment",
        _dock("assignment"),
        DockAssignment,
        1,
        True,
        "controller",
        "Which drone lives in the dock (and the dock's position in the site set).",
        id_field="dock_id",
    ),
    Channel(
        "dockServices",
        _dock("services"),
        DockServiceRequest,
        1,
        False,
        "controller",
        "A dock method call (cover_open, ...). New tid per attempt, same bid per job.",
        expiry_s=COMMAND_TTL_S,
    ),
    Channel(
        "dockServicesReply",
        _dock("services_reply"),
        Reply,
        1,
        False,
        "dock",
        "The dock's answer to a service request, matched by tid.",
    ),
    Channel(
        "dockEvents",
        _dock("events"),
        DockEvent,
        1,
        False,
        "dock",
        "Job progress and end of a dock job (bid), need_reply 1.",
    ),
    Channel(
        "dockEventsReply",
        _dock("events_reply"),
        Reply,
        1,
        False,
        "controller",
        "The controller's acknowledgement of a dock event, matched by tid.",
    ),
    Channel(
        "incident",
        f"{PREFIX}/incidents/{{incident_id}}",
        Incident,
        1,
        True,
        "controller",
        "The incident record; an empty retained payload clears it.",
        id_field="incident_id",
    ),
    Channel(
        "operatorServices",
        f"{PREFIX}/operators/{{username}}/services",
        OperatorRequest,
        1,
        False,
        "operator",
        "An operator, console or CAD request (or a dock's dock_register). The username level "
        "is the MQTT login.",
        expiry_s=COMMAND_TTL_S,
    ),
    Channel(
        "operatorServicesReply",
        f"{PREFIX}/operators/{{username}}/services_reply",
        Reply,
        1,
        False,
        "controller",
        "The controller's answer to an operator request, by tid.",
    ),
    Channel(
        "controllerStatus",
        f"{PREFIX}/controllers/{{controller_id}}/status",
        ControllerStatus,
        1,
        True,
        "controller",
        "Controller presence: online on connection, offline by its Last Will.",
        last_will='{"controller_id":"<controller_id>","status":"offline"}',
        id_field="controller_id",
    ),
    Channel(
        "controllerEvents",
        f"{PREFIX}/controllers/{{controller_id}}/events",
        Alert,
        1,
        False,
        "controller",
        "Alerts and failsafes with a severity.",
    ),
    Channel(
        "trafficFeed",
        f"{PREFIX}/traffic/feeds/{{feed_id}}",
        TrafficFeed,
        0,
        False,
        "feed",
        "Crewed aircraft heard by a ground ADS-B receiver (e.g. dump1090), about 1 Hz.",
    ),
    Channel(
        "trafficPicture",
        f"{PREFIX}/traffic/picture/{{controller_id}}",
        TrafficPicture,
        0,
        False,
        "controller",
        "The merged traffic picture (drones' receivers and ground feeds), 1 Hz.",
        id_field="controller_id",
    ),
)
"""Every channel of the contract. ``groundstation.tools.asyncapi`` renders and validates
against it."""


HA_CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "controllerLease",
        f"{PREFIX}/controllers/{{cluster_id}}/lease",
        Lease,
        1,
        True,
        "controller",
        "Hot-standby lease: holder and epoch, renewed every second.",
        id_field="cluster_id",
    ),
    Channel(
        "incidentOffers",
        f"{PREFIX}/incidents/{{incident_id}}/offers",
        Offer,
        1,
        False,
        "controller",
        "Partitioned dispatch: each controller's best ETA for an incident.",
        id_field="incident_id",
    ),
)
"""Channels of the HA and partition protocols, not yet in ``CHANNELS`` (the AsyncAPI owner adds
them and regenerates ``docs/asyncapi.yaml``)."""


def _agency(path: str) -> str:
    return f"{PREFIX}/agencies/{{agency}}/{path}"


PARTNER_CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "agencyIncident",
        _agency("incidents/{incident_id}"),
        SharedIncident,
        1,
        True,
        "controller",
        "An incident shared with a partner agency, with its drone and M/ETHANE record.",
        id_field="incident_id",
    ),
    Channel(
        "agencyIncidentCap",
        _agency("incidents/{incident_id}/cap"),
        str,
        1,
        True,
        "controller",
        "The shared incident's M/ETHANE record as an OASIS CAP 1.2 alert (XML).",
        content_type="application/cap+xml",
    ),
    Channel(
        "agencyTelemetry",
        _agency("drones/{drone_id}/telemetry"),
        Telemetry,
        0,
        False,
        "controller",
        "The telemetry of a drone over an incident shared with the agency (mirrored).",
        id_field="drone_id",
    ),
    Channel(
        "agencyVideo",
        _agency("drones/{drone_id}/video"),
        VideoDescriptor,
        1,
        True,
        "controller",
        "Where to watch a shared drone (the relay admits the agency while it is shared).",
        id_field="drone_id",
    ),
    Channel(
        "agencyRequest",
        _agency("requests/{request_id}"),
        PartnerRequest,
        1,
        True,
        "controller",
        "A partner's request for a drone: pending, approved (with its incident) or declined.",
        id_field="request_id",
    ),
    Channel(
        "agencyTraffic",
        _agency("traffic"),
        TrafficPicture,
        0,
        False,
        "controller",
        "The crewed-aircraft picture, 1 Hz, while the agency has an open incident shared with it.",
    ),
)
"""The per-agency namespace: a partner's logins may read ``agencies/{their agency}/#`` only."""


ALL_CHANNELS: Final[tuple[Channel, ...]] = CHANNELS + HA_CHANNELS + PARTNER_CHANNELS
"""Every channel of the contract: ``channel_for``, ``asyncapi.validate`` and the document use it."""


def channel_for(topic: str) -> tuple[Channel, dict[str, str]] | None:
    """The channel a concrete topic belongs to, with its parameter values."""
    for ch in ALL_CHANNELS:
        params = ch.match(topic)
        if params is not None:
            return ch, params
    return None

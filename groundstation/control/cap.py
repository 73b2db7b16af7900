"""A shared incident's M/ETHANE record as an OASIS CAP 1.2 alert, for partners' CAD systems.

:func:`to_cap` writes the alert (XML, namespace ``urn:oasis:names:tc:emergency:cap:1.2``);
:func:`methane_from_cap` reads the M/ETHANE record back from one; :func:`validate` checks a
document against CAP 1.2's own schema (``groundstation/data/CAP-v1.2.xsd``, OASIS; lxml).

How M/ETHANE maps onto CAP (docs/partners.md has the whole table):

- the alert: ``scope`` Restricted to the agency it is shared with, ``incidents`` the incident
  id, ``msgType`` Alert for the first version and Update (``references`` the previous) after;
- ``info``: ``category`` Safety, ``event`` the type of incident (T), ``urgency`` Immediate
  (Past once the incident is closed), ``severity`` Extreme for a declared major incident (M),
  Severe with casualties, else Moderate, ``certainty`` Observed (the drone sees it),
  ``headline`` and ``description`` the M/ETHANE report in words;
- every M/ETHANE field as an ``info/parameter`` (``valueName`` ``methane.<field>``), which is
  what :func:`methane_from_cap` reads, so the record round-trips exactly;
- ``area``: ``areaDesc`` the exact location (E), a ``circle`` of 100 m around the position.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import msgspec

from groundstation import contract as c
from groundstation.errors import GroundStationError

__all__ = ["CAP_NS", "XSD_PATH", "CapError", "CapRef", "methane_from_cap", "to_cap", "validate"]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
XSD_PATH = Path(__file__).parents[1] / "data" / "CAP-v1.2.xsd"
AREA_RADIUS_KM = 0.1
_P = "methane."
_LIST_FIELDS = ("services_present", "services_required")


class CapError(GroundStationError):
    """A CAP document that is not valid CAP 1.2, or carries no M/ETHANE record."""


@dataclass(frozen=True, slots=True)
class CapRef:
    """An alert as CAP's ``references`` names it: ``sender,identifier,sent``."""

    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


def cap_time(ms: int) -> str:
    """CAP's date-time: seconds, and UTC written ``-00:00`` (CAP 1.2 forbids ``Z``)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _severity(m: c.Methane) -> str:
    if m.major_incident:
        return "Extreme"
    return "Severe" if m.casualties else "Moderate"


def _description(shared: c.SharedIncident, m: c.Methane) -> str:
    lat = m.lat_deg if m.lat_deg is not None else shared.lat_deg
    lon = m.lon_deg if m.lon_deg is not None else shared.lon_deg
    casualties = "not known" if m.casualties is None else str(m.casualties)
    if m.casualties_detail:
        casualties += f" ({m.casualties_detail})"
    return "\n".join([
        f"M - Major incident declared: {'yes' if m.major_incident else 'no'}",
        f"E - Exact location: {m.exact_location or 'not given'}"
        f" ({lat:.5f}, {lon:.5f})",
        f"T - Type of incident: {m.incident_type or 'not given'}",
        f"H - Hazards: {m.hazards or 'none reported'}",
        f"A - Access: {m.access or 'not given'}",
        f"N - Number of casualties: {casualties}",
        f"E - Emergency services present: {', '.join(m.services_present) or 'none'}; "
        f"required: {', '.join(m.services_required) or 'none'}",
    ])


def to_cap(
    shared: c.SharedIncident,
    *,
    sender: str,
    identifier: str,
    sent_ms: int,
    previous: CapRef | None = None,
    status: str = "Actual",
) -> bytes:
    """The CAP 1.2 alert of an incident shared with one agency (UTF-8 XML)."""
    m = shared.methane or c.Methane()
    ET.register_namespace("", CAP_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        if text is not None:
            el.text = text
        return el

    closed = shared.status not in (
        c.IncidentStatus.NEW, c.IncidentStatus.QUEUED, c.IncidentStatus.DISPATCHED,
        c.IncidentStatus.ON_SCENE,
    )
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", identifier)
    sub(alert, "sender", sender)
    sub(alert, "sent", cap_time(sent_ms))
    sub(alert, "status", status)
    sub(alert, "msgType", "Alert" if previous is None else "Update")
    sub(alert, "source", "DFR ground station, M/ETHANE by the force's drone operator")
    sub(alert, "scope", "Restricted")
    sub(alert, "restriction", f"Shared with {shared.agency} only; not for public release")
    sub(alert, "note", f"incident {shared.incident_id} {shared.status}"
        + (f", drone {shared.drone_id}" if shared.drone_id else ""))
    if previous is not None:
        sub(alert, "references", str(previous))
    sub(alert, "incidents", shared.incident_id)
    info = sub(alert, "info")
    sub(info, "language", "en-GB")
    sub(info, "category", "Safety")
    sub(info, "event", m.incident_type or shared.summary or "Incident")
    if closed:
        sub(info, "responseType", "AllClear")
    sub(info, "urgency", "Past" if closed else "Immediate")
    sub(info, "severity", _severity(m))
    sub(info, "certainty", "Observed")
    sub(info, "senderName", sender)
    location = m.exact_location or f"{shared.lat_deg:.5f},{shared.lon_deg:.5f}"
    sub(info, "headline", f"{m.incident_type or 'Incident'}: {location}"[:160])
    sub(info, "description", _description(shared, m))
    for name, value in msgspec.structs.asdict(m).items():
        if value is None:
            continue
        param = sub(info, "parameter")
        sub(param, "valueName", _P + name)
        sub(param, "value", _text(value))
    area = sub(info, "area")
    sub(area, "areaDesc", location)
    lat = m.lat_deg if m.lat_deg is not None else shared.lat_deg
    lon = m.lon_deg if m.lon_deg is not None else shared.lon_deg
    sub(area, "circle", f"{lat:.6f},{lon:.6f} {AREA_RADIUS_KM}")
    body: bytes = ET.tostring(alert, encoding="utf-8", xml_declaration=True)
    return body


def methane_from_cap(xml: bytes) -> tuple[str, c.Methane]:
    """The incident id and the M/ETHANE record of a CAP alert written by :func:`to_cap`."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise CapError(f"not XML: {exc}") from exc
    ns = {"cap": CAP_NS}
    incident_id = root.findtext("cap:incidents", default="", namespaces=ns)
    raw: dict[str, Any] = {}
    for param in root.iterfind("cap:info/cap:parameter", ns):
        name = param.findtext("cap:valueName", default="", namespaces=ns)
        value = param.findtext("cap:value", default="", namespaces=ns)
        if not name.startswith(_P):
            continue
        key = name[len(_P):]
        if key in _LIST_FIELDS:
            raw[key] = [v for v in value.split(",") if v]
        elif key == "major_incident":
            raw[key] = value == "true"
        elif key == "casualties":
            raw[key] = int(value)
        elif key in ("lat_deg", "lon_deg"):
            raw[key] = float(value)
        else:
            raw[key] = value
    if not incident_id:
        raise CapError("no <incidents>: not an alert of a shared incident")
    try:
        return incident_id, msgspec.convert(raw, c.Methane)
    except msgspec.ValidationError as exc:
        raise CapError(f"M/ETHANE parameters: {exc}") from exc


@functools.cache
def _schema() -> Any:
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def validate(xml: bytes) -> None:
    """Raise :class:`CapError` with the schema's first complaint unless ``xml`` is CAP 1.2."""
    from lxml import etree

    try:
        doc = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        raise CapError(f"not XML: {exc}") from exc
    schema = _schema()
    if not schema.validate(doc):
        raise CapError(f"not valid CAP 1.2: {schema.error_log.last_error}")

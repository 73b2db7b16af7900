"""What a video view says besides the picture: overlays and the "no video" reason (no Qt here)."""

from __future__ import annotations

import enum
import time

from groundstation.contract import Incident, Telemetry, VideoDescriptor, VideoState
from missions.geo import distance_m


class DecoderState(enum.StrEnum):
    """The console's own side of a stream (the descriptor says the relay's side)."""

    CONNECTING = "connecting"
    PLAYING = "playing"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    REFUSED = "refused"
    CLOSED = "closed"


STREAMING = (VideoState.LIVE, VideoState.RECONNECTING)
"""Descriptor states in which the console keeps the relay's URL open."""


def wants_stream(desc: VideoDescriptor | None) -> bool:
    return desc is not None and desc.url is not None and desc.state in STREAMING


def no_video_text(
    desc: VideoDescriptor | None, decoder: tuple[DecoderState, str] | None
) -> str | None:
    """Why the picture is missing or old, for the pilot; None while frames play."""
    if desc is None:
        return "No video: the controller has not described this drone's camera"
    why = f": {desc.reason}" if desc.reason else ""
    if desc.state == VideoState.NO_CAMERA:
        return f"No camera{why}"
    if desc.state == VideoState.IDLE:
        return f"Camera idle{why or ' (it streams in the air)'}"
    if desc.state == VideoState.LOST:
        return f"Stream lost{why}"
    if desc.state == VideoState.RECONNECTING:
        return f"Stream reconnecting{why}"
    if desc.url is None:
        return "No video: the descriptor names no URL"
    if decoder is None:
        return "Connecting…"
    state, reason = decoder
    detail = f": {reason}" if reason else ""
    text = {
        DecoderState.CONNECTING: "Connecting to the video relay…",
        DecoderState.PLAYING: None,
        DecoderState.STALLED: f"Stream stalled{detail}",
        DecoderState.RECONNECTING: f"Reconnecting{detail}",
        DecoderState.REFUSED: f"Video refused{detail}",
        DecoderState.CLOSED: "Stream closed",
    }[state]
    return text if state != DecoderState.CONNECTING or not reason else f"{text} ({reason})"


NO_PICTURE_OVERLAY_S = 1.0
"""How often a grid tile with no picture refreshes its telemetry line. With a hundred drones in
the air the grid holds a hundred such tiles, and their altitude and heading, repainted at the
telemetry rate, cost the console more than its map (issue 21)."""


def overlay_due(last_s: float | None, now_s: float) -> bool:
    """Whether a tile with no picture (and no change of its message) shows new overlay lines."""
    return last_s is None or now_s - last_s >= NO_PICTURE_OVERLAY_S


def overlay_lines(
    drone_id: str,
    tel: Telemetry | None,
    incident: Incident | None,
    capture_ms: int | None,
    desc: VideoDescriptor | None = None,
    now_s: float | None = None,
    *,
    compact: bool = False,
) -> tuple[str, str]:
    """Top line (drone, time) and bottom line (altitude, heading, distance to the incident);
    ``compact`` (a grid tile) leaves out the incident's id and the gimbal's tilt."""
    now = time.time() if now_s is None else now_s
    t = capture_ms / 1000.0 if capture_ms is not None else now
    clock = time.strftime("%H:%M:%S UTC", time.gmtime(t))
    top = f"{drone_id}  {clock}"
    if desc is not None and desc.recording:
        top += "  ● REC"
    parts: list[str] = []
    if tel is not None:
        parts.append(f"ALT {tel.alt_rel_m:.0f} m")
        parts.append(f"HDG {tel.heading_deg % 360:03.0f}°")
        if incident is not None:
            d = distance_m(tel.lat_deg, tel.lon_deg, incident.lat_deg, incident.lon_deg)
            dist = f"{d:,.0f} m" if d < 10_000 else f"{d / 1000:.1f} km"
            parts.append(f"TO {dist}" if compact else f"TO {incident.incident_id} {dist}")
    if desc is not None and desc.gimbal_pitch_deg is not None and not compact:
        parts.append(f"TILT {desc.gimbal_pitch_deg:+.0f}°")
    return top, "   ".join(parts) if parts else "no telemetry"

"""The payload of a drone's video channel: where and how to watch it, and why not."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from groundstation.contract._base import Id


class VideoState(enum.StrEnum):
    """What a viewer of a drone's video gets now, and why not when it gets nothing."""

    LIVE = "live"
    """Frames arrive at the relay; ``url`` plays them."""
    IDLE = "idle"
    """A camera is known but does not stream (the drone is docked; streams start in the air)."""
    RECONNECTING = "reconnecting"
    """The stream stopped; the relay waits for it to come back (``reason`` says since when)."""
    LOST = "lost"
    """The stream has been gone past the relay's patience; the sortie goes on without video."""
    NO_CAMERA = "no_camera"
    """The drone has no camera component and no stream configured for its dock."""


class VideoDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """``drones/{drone_id}/video``: retained, QoS 1, published on change.

    ``url`` is what a viewer opens (the relay: MPEG-TS over HTTP, with the same login as the
    broker); ``source`` is where the relay takes the drone's stream from (RTP/H.264 over UDP)."""

    drone_id: Id
    ts_ms: int
    state: VideoState
    reason: str = ""
    url: str | None = None
    source: str | None = None
    codec: str = "h264"
    width_px: Annotated[int, msgspec.Meta(ge=0, le=8192)] = 0
    height_px: Annotated[int, msgspec.Meta(ge=0, le=8192)] = 0
    fps: Annotated[float, msgspec.Meta(ge=0.0, le=240.0)] = 0.0
    bitrate_kbps: Annotated[int, msgspec.Meta(ge=0)] = 0
    hfov_deg: Annotated[float, msgspec.Meta(ge=0.0, le=360.0)] | None = None
    live: bool = False
    recording: bool = False
    camera: str | None = None
    """Vendor and model from CAMERA_INFORMATION, or "configured stream" for a dock's stream."""
    gimbal_pitch_deg: float | None = None
    gimbal_yaw_deg: float | None = None
    """Gimbal attitude as last reported (pitch down negative; yaw relative to the vehicle)."""

"""The contract's shared vocabulary: the topic prefix, constrained id and coordinate types, and
the helpers every section uses (time stamps, transaction ids)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Final

import msgspec

PREFIX: Final = "dfr/v1"


Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Lat = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
MAX_PAYLOAD_BYTES: Final = 64 * 1024
COMMAND_TTL_S: Final = 30
"""Commands older than this are not acted on (MQTT 5 message expiry and the envelope timestamp)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def new_tid() -> str:
    return uuid.uuid4().hex


def valid_id(value: str) -> bool:
    """True for an id usable in a topic level (URL-safe, 1-64 characters)."""
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "_.-" for c in value)


UnitInterval = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
"""A coordinate of the picture, 0..1 from the top left (camera pointing, video tracking)."""


Tid = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A transaction id of an envelope (DJI Cloud API ``tid``)."""

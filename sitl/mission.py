"""The MAVLink mission protocol, vehicle side, for missions, geofences and rally points.

Upload: MISSION_COUNT -> (MISSION_REQUEST_INT -> MISSION_ITEM_INT) x count -> MISSION_ACK.
Download: MISSION_REQUEST_LIST -> MISSION_COUNT -> (MISSION_REQUEST_INT -> MISSION_ITEM_INT) x count
-> MISSION_ACK from the ground station. MISSION_CLEAR_ALL empties one list. Legacy MISSION_ITEM /
MISSION_REQUEST are answered too (coordinates in degrees). A stalled upload re-requests its item.
Sans-IO: every call returns the messages to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pymavlink.dialects.v20 import common as mav

RETRY_S = 0.5
MAX_RETRIES = 5
MAX_ITEMS = 2000


class MissionType(IntEnum):
    MISSION = 0
    FENCE = 1
    RALLY = 2


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One stored item, as MISSION_ITEM_INT carries it (x/y in 1e-7 degrees)."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int

    @property
    def lat_deg(self) -> float:
        return self.x * 1e-7

    @property
    def lon_deg(self) -> float:
        return self.y * 1e-7


@dataclass(slots=True)
class _Upload:
    mission_type: MissionType
    count: int
    items: list[MissionItem]
    sysid: int
    compid: int
    last_request_s: float
    retries: int = 0


class MissionStore:
    """Stored lists and the transfer state machine of one vehicle."""

    def __init__(self) -> None:
        self.lists: dict[MissionType, list[MissionItem]] = {t: [] for t in MissionType}
        self._upload: _Upload | None = None
        self.changed: list[MissionType] = []  # lists replaced since the owner last looked

    def items(self, mission_type: MissionType) -> list[MissionItem]:
        return self.lists[mission_type]

    def handle(self, msg: Any, now_s: float) -> list[Any]:
        """Handle one mission-protocol message; returns replies."""
        mid = msg.id
        src, comp = msg.get_srcSystem(), msg.get_srcComponent()
        mtype = _mission_type(msg)
        if mid == mav.MAVLINK_MSG_ID_MISSION_COUNT:
            return self._start_upload(msg.count, mtype, src, comp, now_s)
        if mid in (mav.MAVLINK_MSG_ID_MISSION_ITEM_INT, mav.MAVLINK_MSG_ID_MISSION_ITEM):
            return self._item(msg, mtype, now_s)
        if mid == mav.MAVLINK_MSG_ID_MISSION_REQUEST_LIST:
            count = len(self.lists[mtype])
            return [mav.MAVLink_mission_count_message(src, comp, count, mtype)]
        if mid in (mav.MAVLINK_MSG_ID_MISSION_REQUEST_INT, mav.MAVLINK_MSG_ID_MISSION_REQUEST):
            return self._send_item(
                msg.seq, mtype, src, comp, mid == mav.MAVLINK_MSG_ID_MISSION_REQUEST
            )
        if mid == mav.MAVLINK_MSG_ID_MISSION_CLEAR_ALL:
            self.lists[mtype] = []
            self.changed.append(mtype)
            return [mav.MAVLink_mission_ack_message(src, comp, mav.MAV_MISSION_ACCEPTED, mtype)]
        return []  # MISSION_ACK ends a download: nothing to do

    def poll(self, now_s: float) -> list[Any]:
        """Re-request a stalled upload item; give up after MAX_RETRIES."""
        up = self._upload
        if up is None or now_s - up.last_request_s < RETRY_S:
            return []
        if up.retries >= MAX_RETRIES:
            self._upload = None
            return [
                mav.MAVLink_mission_ack_message(
                    up.sysid, up.compid, mav.MAV_MISSION_OPERATION_CANCELLED, up.mission_type
                )
            ]
        up.retries += 1
        up.last_request_s = now_s
        return [self._request(up)]

    def _start_upload(
        self, count: int, mtype: MissionType, src: int, comp: int, now_s: float
    ) -> list[Any]:
        if count > MAX_ITEMS:
            return [mav.MAVLink_mission_ack_message(src, comp, mav.MAV_MISSION_NO_SPACE, mtype)]
        if count == 0:
            self._upload = None
            self.lists[mtype] = []
            self.changed.append(mtype)
            return [mav.MAVLink_mission_ack_message(src, comp, mav.MAV_MISSION_ACCEPTED, mtype)]
        self._upload = _Upload(mtype, count, [], src, comp, now_s)
        return [self._request(self._upload)]

    def _request(self, up: _Upload) -> Any:
        return mav.MAVLink_mission_request_int_message(
            up.sysid, up.compid, len(up.items), up.mission_type
        )

    def _item(self, msg: Any, mtype: MissionType, now_s: float) -> list[Any]:
        up = self._upload
        src, comp = msg.get_srcSystem(), msg.get_srcComponent()
        if up is None or up.mission_type != mtype:
            return [mav.MAVLink_mission_ack_message(src, comp, mav.MAV_MISSION_DENIED, mtype)]
        if msg.seq != len(up.items):
            if msg.seq < len(up.items):
                return []  # a duplicate: our request for the next one is already out
            return [
                mav.MAVLink_mission_ack_message(src, comp, mav.MAV_MISSION_INVALID_SEQUENCE, mtype)
            ]
        x, y = msg.x, msg.y
        if msg.id == mav.MAVLINK_MSG_ID_MISSION_ITEM:
            x, y = round(msg.x * 1e7), round(msg.y * 1e7)
        up.items.append(
            MissionItem(
                msg.seq,
                msg.frame,
                msg.command,
                msg.current,
                msg.autocontinue,
                msg.param1,
                msg.param2,
                msg.param3,
                msg.param4,
                int(x),
                int(y),
                msg.z,
                mtype,
            )
        )
        up.last_request_s = now_s
        up.retries = 0
        if len(up.items) < up.count:
            return [self._request(up)]
        self.lists[mtype] = up.items
        self.changed.append(mtype)
        self._upload = None
        return [mav.MAVLink_mission_ack_message(src, comp, mav.MAV_MISSION_ACCEPTED, mtype)]

    def _send_item(
        self, seq: int, mtype: MissionType, src: int, comp: int, legacy: bool
    ) -> list[Any]:
        items = self.lists[mtype]
        if not 0 <= seq < len(items):
            return [
                mav.MAVLink_mission_ack_message(src, comp, mav.MAV_MISSION_INVALID_SEQUENCE, mtype)
            ]
        it = items[seq]
        if legacy:
            return [
                mav.MAVLink_mission_item_message(
                    src,
                    comp,
                    it.seq,
                    it.frame,
                    it.command,
                    it.current,
                    it.autocontinue,
                    it.param1,
                    it.param2,
                    it.param3,
                    it.param4,
                    it.x * 1e-7,
                    it.y * 1e-7,
                    it.z,
                    mtype,
                )
            ]
        return [
            mav.MAVLink_mission_item_int_message(
                src,
                comp,
                it.seq,
                it.frame,
                it.command,
                it.current,
                it.autocontinue,
                it.param1,
                it.param2,
                it.param3,
                it.param4,
                it.x,
                it.y,
                it.z,
                mtype,
            )
        ]


def _mission_type(msg: Any) -> MissionType:
    try:
        return MissionType(getattr(msg, "mission_type", 0))
    except ValueError:
        return MissionType.MISSION

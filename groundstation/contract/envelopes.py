"""The DJI Cloud API envelopes (request, reply, refusal) and their builders."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from groundstation.contract._base import new_tid, now_ms
from groundstation.contract.enums import Result


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """A service request or an event (DJI Cloud API envelope). ``data`` is checked per method."""

    tid: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    bid: str = ""
    timestamp: int
    method: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    need_reply: int = 0
    gateway: str | None = None


class ReplyData(msgspec.Struct, frozen=True, kw_only=True):
    result: int
    output: dict[str, Any] = msgspec.field(default_factory=dict)


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    tid: str
    bid: str = ""
    timestamp: int
    method: str
    data: ReplyData


def make_request(method: str, data: msgspec.Struct | dict[str, Any], *, bid: str = "") -> Request:
    payload = msgspec.to_builtins(data) if isinstance(data, msgspec.Struct) else data
    return Request(tid=new_tid(), bid=bid, timestamp=now_ms(), method=method, data=payload)


def make_reply(
    tid: str, method: str, result: Result, output: dict[str, Any] | None = None, *, bid: str = ""
) -> Reply:
    return Reply(
        tid=tid,
        bid=bid,
        timestamp=now_ms(),
        method=method,
        data=ReplyData(result=int(result), output=output or {}),
    )


def refusal(tid: str, method: str, result: Result, reason: str, *, bid: str = "") -> Reply:
    return make_reply(tid, method, result, {"reason": reason}, bid=bid)

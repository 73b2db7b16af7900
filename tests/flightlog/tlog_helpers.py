"""Reading a .tlog back the way a user would: pymavlink's own reader, every message decoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymavlink import mavutil


@dataclass
class Tlog:
    messages: list[Any] = field(default_factory=list)
    bad: list[Any] = field(default_factory=list)

    def of(self, kind: str) -> list[Any]:
        return [m for m in self.messages if m.get_type() == kind]

    @property
    def types(self) -> set[str]:
        return {m.get_type() for m in self.messages}


def read_tlog(path: Path) -> Tlog:
    conn = mavutil.mavlink_connection(str(path), dialect="common")
    out = Tlog()
    try:
        while True:
            msg = conn.recv_msg()
            if msg is None:
                break
            (out.bad if msg.get_type() == "BAD_DATA" else out.messages).append(msg)
    finally:
        conn.close()
    return out

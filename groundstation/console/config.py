"""The console's configuration: one frozen object built at the edge (CLI or demo)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from groundstation.adapters.bus import BrokerConfig
from groundstation.contract import Role


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Where the broker is, who is logged in and what the map shows.

    ``tiles_url`` is an OSM-compatible ``{z}/{x}/{y}`` URL, or None for the offline base only.
    ``sites`` names a built-in site set or a JSON file (docks drawn before they report).
    """

    broker: BrokerConfig
    user: str = "operator"
    role: Role = Role.OPERATOR
    sites: str | None = "met-trial"
    tiles_url: str | None = None
    tile_cache: Path | None = None
    controller_id: str | None = None
    frame_hz: float = 15.0
    table_hz: float = 4.0
    title: str = "DFR operator console"
    auto_select: bool = True
    """Select the first drone in the air while the pilot has selected none."""

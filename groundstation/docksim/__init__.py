"""Simulated docks speaking the dock protocol over MQTT (``groundstation dock-sim``).

- ``core``: :class:`DockSim`, one dock, sans-IO (requests, telemetry and event replies in,
  messages to publish out; cover timing, charging, weather, scripted faults).
- ``fleet``: :class:`DockSimFleet`, one :class:`DockSim` per dock of a site set, each on its own
  broker session behind a local relay that can cut it like a network outage.
- ``cli``: the ``groundstation dock-sim`` command and its fault scripts.
"""

from groundstation.docksim.cli import ScriptStep, apply_step, main, parse_script, run_script
from groundstation.docksim.core import COVER_S, DockCounters, DockSim, Out, Weather
from groundstation.docksim.fleet import DockSimFleet

__all__ = [
    "COVER_S",
    "DockCounters",
    "DockSim",
    "DockSimFleet",
    "Out",
    "ScriptStep",
    "Weather",
    "apply_step",
    "main",
    "parse_script",
    "run_script",
]

"""One exception tree for the ground station. Outside errors are mapped once, at their adapter.

GroundStationError
├── ConfigError          bad configuration, site file or command-line value
├── BusError             the MQTT broker cannot be reached or refused us (adapters.bus)
├── VehicleError         a vehicle command failed (groundstation.adapters.mavsdk_link maps MAVSDK's)
│   ├── VehicleTimeout   the vehicle did not answer in time
│   └── Superseded       a flight command dropped unsent: a newer one was given to that drone
├── DockError            a dock refused, failed or timed out on a service call
└── Refused              a request refused on purpose; carries the contract Result and reason
"""

from __future__ import annotations


class GroundStationError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(GroundStationError):
    pass


class BusError(GroundStationError):
    pass


class VehicleError(GroundStationError):
    def __init__(self, drone_id: str, call: str, result: str) -> None:
        super().__init__(f"{drone_id}: {call} failed: {result}")
        self.drone_id = drone_id
        self.call = call
        self.result = result


class VehicleTimeout(VehicleError):
    pass


class Superseded(VehicleError):
    """A flight command not sent because a newer one was given to the same drone while it
    waited its turn (groundstation.adapters.mavsdk_link: the newest command wins)."""


class DockError(GroundStationError):
    def __init__(self, dock_id: str, method: str, reason: str, result: int | None = None) -> None:
        super().__init__(f"dock {dock_id}: {method}: {reason}")
        self.dock_id = dock_id
        self.method = method
        self.reason = reason
        self.result = result
        """The dock's own result code when it refused or failed the job, else None."""


class Refused(GroundStationError):
    """A request refused with a contract result code and a reason for the caller."""

    def __init__(self, result: int, reason: str, **fields: object) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason
        self.fields = fields
        """Ids the refusal still created (a rejected incident's id), sent beside the reason."""

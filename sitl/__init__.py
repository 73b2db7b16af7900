"""An embedded PX4-like multicopter simulator speaking MAVLink 2 over UDP, for the ground
station's tests and demos. See sitl/README.md."""

from sitl.fleet import SimFleet
from sitl.model import SimVehicle
from sitl.physics import Home
from sitl.state import CommandFault, Fault, FlightMode

__all__ = ["CommandFault", "Fault", "FlightMode", "Home", "SimFleet", "SimVehicle"]

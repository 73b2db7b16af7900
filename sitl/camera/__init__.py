"""A MAVLink camera and gimbal on every simulated vehicle, streaming H.264 over RTP what it
sees of a synthetic, geo-consistent ground. See sitl/README.md ("The camera").

Pure parts: ``lens`` (pinhole projection), ``gimbal`` (angles, ROI, slew), ``scene`` (ground
tiles), ``actors`` (people and cars near the scene), ``render`` (a frame of a View),
``clockcode`` (the frame's capture time in the picture), ``protocol`` (camera and gimbal
manager over MAVLink, sans-IO). I/O: ``stream`` (encoder and photo threads).
"""

from sitl.camera.lens import CameraPose, Lens
from sitl.camera.protocol import CameraConfig, CameraPayload, StreamPolicy

__all__ = ["CameraConfig", "CameraPayload", "CameraPose", "Lens", "StreamPolicy"]

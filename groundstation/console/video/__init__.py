"""Live video in the console: the relay's MPEG-TS streams decoded off the UI thread (PyAV),
painted on a timer with overlays, camera and gimbal requests over ``drone_camera``."""

from groundstation.console.video.area import VideoArea
from groundstation.console.video.decoder import Frame, FrameSlot, StreamDecoder, VideoStats
from groundstation.console.video.status import DecoderState

__all__ = ["DecoderState", "Frame", "FrameSlot", "StreamDecoder", "VideoArea", "VideoStats"]

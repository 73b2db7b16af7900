"""Live video at the ground station: the relay (RTP/H.264 in, MPEG-TS over HTTP out), the
evidence recorder, and the frame clock code reader (docs/video.md)."""

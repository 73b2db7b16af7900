"""Suite-wide settings: Qt never needs a screen unless a test starts Xvfb itself, and MAVSDK's
own log lines stay out of the test output."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
logging.getLogger("mavsdk").setLevel(logging.WARNING)

"""The fault suite: a real mosquitto per test (the suite-wide ``mosquitto`` fixture; helpers in
faults_helpers.py); the separate-process tests (broker restart, controller kill) reuse
tests/e2e's ``procs`` fixture."""

from __future__ import annotations

from tests.e2e.conftest import procs

__all__ = ["procs"]

"""Shared fixtures for the missions tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from missions.airspace import Airspace

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def airspace() -> Airspace:
    return Airspace.load_default()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA

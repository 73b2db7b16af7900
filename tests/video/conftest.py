"""Video tests: every test in this folder carries the ``video`` marker (run them alone with
``pytest -m video``); each module adds its layer marker (unit / integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.video)

"""Every JSON example in the integration guides is a valid message of some channel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from groundstation import asyncapi
from groundstation import contract as c

pytestmark = pytest.mark.unit

DOCS = Path(__file__).parents[2] / "docs"
GUIDES = ["dock-integration.md", "cad-integration.md"]


def examples(name: str) -> list[str]:
    text = (DOCS / name).read_text(encoding="utf-8")
    return re.findall(r"```json\n(.*?)```", text, flags=re.S)


def channels_accepting(block: str) -> list[str]:
    raw = json.loads(block)
    accepted = []
    for ch in c.ALL_CHANNELS:
        topic = ch.address
        for p in ch.parameters:
            value = raw.get(ch.id_field) if ch.id_field else None
            topic = topic.replace(f"{{{p}}}", value if isinstance(value, str) else "x")
        try:
            asyncapi.validate(topic, block.encode())
        except ValueError:
            continue
        accepted.append(ch.name)
    return accepted


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_examples_validate(guide: str) -> None:
    blocks = examples(guide)
    assert len(blocks) >= 5
    for block in blocks:
        assert channels_accepting(block), block

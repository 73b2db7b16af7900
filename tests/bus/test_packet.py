"""The QoS 0 PUBLISH packets ``Bus.publish_nowait`` writes itself, byte for byte as MQTT 3.1.1
(section 3.3) and MQTT 5 (section 3.3, with an empty property list) define them."""

from __future__ import annotations

import pytest

from groundstation.adapters.bus import publish_packet, topic_prefix
from groundstation.errors import BusError

pytestmark = pytest.mark.unit


def test_a_short_message_in_mqtt_3_and_5() -> None:
    assert publish_packet(topic_prefix("a/b", mqtt5=False), b"hi") == b"\x30\x07\x00\x03a/bhi"
    assert publish_packet(topic_prefix("a/b", mqtt5=True), b"hi") == b"\x30\x08\x00\x03a/b\x00hi"


def test_the_remaining_length_is_a_variable_byte_integer() -> None:
    prefix = topic_prefix("t", mqtt5=False)  # 3 bytes
    for payload_len, header in [
        (124, b"\x30\x7f"),  # 127: one byte
        (125, b"\x30\x80\x01"),  # 128: two
        (16_380, b"\x30\xff\x7f"),  # 16,383
        (16_381, b"\x30\x80\x80\x01"),  # 16,384: three
    ]:
        packet = publish_packet(prefix, bytes(payload_len))
        assert packet.startswith(header + prefix)
        assert len(packet) == len(header) + 3 + payload_len


def test_a_topic_is_utf8_with_its_length_in_bytes() -> None:
    assert topic_prefix("drones/é", mqtt5=False) == b"\x00\x09drones/\xc3\xa9"


def test_an_empty_topic_is_refused_with_a_reason() -> None:
    with pytest.raises(BusError, match="topic of 0 bytes"):
        topic_prefix("", mqtt5=True)

"""The QoS 0 PUBLISH packets ``Bus.publish_nowait`` writes itself, byte for byte as MQTT 3.1.1
(section 3.3) and MQTT 5 (section 3.3, with an empty property list) define them."""

from __future__ import annotations

import pytest

from groundstation.adapters.bus import (
    Message,
    publish_message,
    publish_packet,
    split_packets,
    topic_prefix,
)
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


def test_packets_are_split_where_their_lengths_say_and_a_partial_one_is_kept() -> None:
    one = publish_packet(topic_prefix("a/b", mqtt5=False), b"x" * 200)  # two length bytes
    two = publish_packet(topic_prefix("c", mqtt5=False), b"")
    data = one + two + one[:5]
    packets, rest = split_packets(data)
    assert [(cmd, len(body)) for cmd, body in packets] == [(0x30, 205), (0x30, 3)]
    assert rest == one[:5]
    packets, rest = split_packets(rest + one[5:])
    assert len(packets) == 1 and rest == b""


def test_a_length_cut_between_its_bytes_waits_for_the_rest() -> None:
    one = publish_packet(topic_prefix("t", mqtt5=True), b"y" * 300)
    assert split_packets(one[:2]) == ([], one[:2])


def test_a_length_over_four_bytes_is_refused_with_a_reason() -> None:
    with pytest.raises(BusError, match="length"):
        split_packets(b"\x30\xff\xff\xff\xff\x01")


@pytest.mark.parametrize("mqtt5", [False, True])
def test_a_publish_reads_back_as_the_message_sent(mqtt5: bool) -> None:
    packet = publish_packet(topic_prefix("dfr/v1/drones/uav-1/telemetry", mqtt5=mqtt5), b"{}")
    [(command, body)], _ = split_packets(packet)
    msg = publish_message(command | 0x01, body, mqtt5=mqtt5)  # retained
    assert msg == Message("dfr/v1/drones/uav-1/telemetry", b"{}", True)


def test_mqtt5_properties_are_skipped_not_read_as_payload() -> None:
    # topic "t", properties: message expiry (0x02) 60 s, then the payload.
    body = b"\x00\x01t" + b"\x05\x02\x00\x00\x00\x3c" + b"payload"
    assert publish_message(0x30, body, mqtt5=True) == Message("t", b"payload", False)

"""A partner service's client as docs/partners.md describes it: paho-mqtt and the standard
library only. It records every message it is delivered and the broker's SUBACK reason codes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

T = TypeVar("T")

class Partner:
    def __init__(self, port: int, username: str, password: str, host: str = "127.0.0.1") -> None:
        self.username = username
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"partner-{username}-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.refused = False
        self.messages: list[tuple[float, str, bytes, bool]] = []
        """(monotonic time, topic, payload, retained) of every message delivered."""
        self.granted: dict[int, list[int]] = {}
        self._subscribed: dict[int, threading.Event] = {}

    def connect(self, timeout_s: float = 10.0) -> bool:
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(timeout_s):
            raise AssertionError("no CONNACK")
        return not self.refused

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe(self, topics: list[tuple[str, int]], timeout_s: float = 10.0) -> list[int]:
        """Subscribe and return the broker's reason code per filter (0-2 granted QoS,
        0x87 not authorized)."""
        result, mid = self.client.subscribe(topics)
        assert result == mqtt.MQTT_ERR_SUCCESS and mid is not None
        event = self._subscribed.setdefault(mid, threading.Event())
        if not event.wait(timeout_s):
            raise AssertionError("no SUBACK")
        return self.granted[mid]

    def call(self, method: str, data: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        """An operator-services request (partner dispatchers: incident_request); its reply."""
        tid = uuid.uuid4().hex
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho: no annotations
        props.MessageExpiryInterval = 30
        request = {"tid": tid, "timestamp": int(time.time() * 1000), "method": method,
                   "data": data}
        self.client.publish(f"dfr/v1/operators/{self.username}/services",
                            json.dumps(request).encode(), qos=1, properties=props)

        def found() -> dict[str, Any] | None:
            for _, topic, payload, _ in self.snapshot():
                if topic.endswith("/services_reply") and payload:
                    reply: dict[str, Any] = json.loads(payload)
                    if reply["tid"] == tid:
                        return reply
            return None

        return wait_for(found, timeout_s, f"reply to {method}")

    def snapshot(self) -> list[tuple[float, str, bytes, bool]]:
        with self.lock:
            return list(self.messages)

    def topics(self) -> set[str]:
        return {t for _, t, _, _ in self.snapshot()}

    def last(self, topic: str) -> bytes | None:
        got = [p for _, t, p, _ in self.snapshot() if t == topic]
        return got[-1] if got else None

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any = None) -> None:
        self.refused = bool(rc.is_failure)
        self.connected.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: Any,
                      props: Any = None) -> None:
        self.granted[mid] = [int(getattr(rc, "value", rc)) for rc in codes]
        self._subscribed.setdefault(mid, threading.Event()).set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((time.monotonic(), msg.topic, bytes(msg.payload), msg.retain))


def wait_for(pred: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """The first truthy value ``pred`` returns within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

"""A CAD gateway written from docs/cad-integration.md alone: paho-mqtt and the standard library,
nothing from ``groundstation``. Tests drive it against a real broker and controller."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


class GuideCad:
    """Section 1 (connect), 2 (requests and replies) and 3 (follow the incident)."""

    def __init__(self, host: str, port: int, username: str, password: str | None) -> None:
        self.username = username
        self.host, self.port = host, port
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cad-{username}",
                                  protocol=mqtt.MQTTv5)
        if password is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connack: str = ""
        self.refused = False
        self.replies: dict[str, dict[str, Any]] = {}
        self.incidents: dict[str, dict[str, Any] | None] = {}
        self.lock = threading.Lock()

    def connect(self, timeout_s: float = 10.0) -> bool:
        """True once connected and subscribed; False when the broker refused the login."""
        self.client.connect(self.host, self.port, keepalive=10)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        if not self.connected.wait(timeout_s):
            raise AssertionError("no CONNACK")
        if self.refused:
            return False
        if not self.subscribed.wait(timeout_s):
            raise AssertionError("not subscribed")
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any = None) -> None:
        self.connack = str(rc)
        self.refused = bool(rc.is_failure)
        if not self.refused:
            base = f"dfr/v1/operators/{self.username}/"
            client.subscribe([(base + "services_reply", 1), ("dfr/v1/incidents/+", 1)])
        self.connected.set()

    def _on_subscribe(self, *args: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            if msg.topic.startswith("dfr/v1/incidents/"):
                ident = msg.topic.rsplit("/", 1)[-1]
                self.incidents[ident] = json.loads(msg.payload) if msg.payload else None
            elif msg.topic.endswith("/services_reply"):
                reply = json.loads(msg.payload)
                self.replies[reply["tid"]] = reply

    def send(self, request: dict[str, Any]) -> str:
        """Publish a request (QoS 1, 30 s message expiry); its tid."""
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho: no annotations
        props.MessageExpiryInterval = 30
        self.client.publish(f"dfr/v1/operators/{self.username}/services",
                            json.dumps(request).encode(), qos=1, properties=props)
        return str(request["tid"])

    def call(self, method: str, data: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        tid = self.send({"tid": uuid.uuid4().hex, "timestamp": int(time.time() * 1000),
                         "method": method, "data": data})
        return self.reply(tid, timeout_s)

    def reply(self, tid: str, timeout_s: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if tid in self.replies:
                    return self.replies[tid]
            time.sleep(0.02)
        raise AssertionError(f"no reply to {tid}")

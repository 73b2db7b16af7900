"""A dock written by a third party from docs/dock-integration.md alone, launched by the controller.
It registers itself with a running controller as section 10.2 says (``register``; flown in
tests/e2e/test_lab.py).

The dock (class ``GuideDock``) uses nothing but paho-mqtt and the standard library: it imports
nothing from ``groundstation``. Only the controller side below (DockLink on a Bus, the broker, and
the schema check of everything the dock publishes) uses the ground station's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

pytestmark = pytest.mark.integration

# ---------------------------------------------------------------------------------------------
# The third-party dock: guide sections 1-6, nothing imported from groundstation.
# ---------------------------------------------------------------------------------------------

JOB_SECONDS = {"cover_open": 0.8, "cover_close": 0.8, "drone_open": 0.3, "drone_close": 0.1,
               "charge_open": 0.1, "charge_close": 0.1, "device_reboot": 0.3}
STEP_KEYS = {"cover_open": "cover_opening", "cover_close": "cover_closing"}


def now_ms() -> int:
    return int(time.time() * 1000)


class GuideDock:
    def __init__(self, host: str, port: int, dock_id: str, password: str | None = None) -> None:
        self.dock_id = dock_id
        self.base = f"dfr/v1/docks/{dock_id}/"
        self.cover = 0
        self.fault: str | None = None
        self.job: dict[str, Any] | None = None
        self.replies: dict[str, bytes] = {}
        self.acked: set[str] = set()
        self.expiry_s: list[int | None] = []  # MQTT 5 message expiry seen on each request
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dock-{dock_id}",
                                  protocol=mqtt.MQTTv5)
        self.client.will_set(self.base + "status", b'{"status":"offline"}', qos=1, retain=True)
        if password is not None:
            self.client.username_pw_set(dock_id, password)
        self.drone_id: str | None = None  # from the controller's assignment
        self.methods: list[str] = []  # every job started, in order
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message
        self.host, self.port = host, port
        self.last_state: bytes | None = None
        self.ops = f"dfr/v1/operators/{dock_id}/"  # section 10.2: registering
        self.registration: dict[str, dict[str, Any]] = {}  # replies by tid
        self.subscribed = threading.Event()
        self.telemetry_seen = 0  # section 6
        self.drone_in_air = False
        self.wind_m_s = 3.1  # its anemometer
        self.client.on_subscribe = lambda *_: self.subscribed.set()

    def start(self) -> None:
        self.client.connect(self.host, self.port, keepalive=10)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        self.ticker = threading.Thread(target=self.run, daemon=True)
        self.ticker.start()

    def close(self) -> None:
        self.stop.set()
        self.ticker.join(5)
        # A graceful disconnect publishes offline itself: the Last Will fires only on loss.
        info = self.pub("status", {"status": "offline", "ts_ms": now_ms()}, retain=True)
        info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def pub(self, leaf: str, obj: dict[str, Any] | bytes, qos: int = 1,
            retain: bool = False) -> mqtt.MQTTMessageInfo:
        payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return self.client.publish(self.base + leaf, payload, qos=qos, retain=retain)

    def on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode,
                   props: Any = None) -> None:
        client.subscribe([(self.base + "services", 1), (self.base + "events_reply", 1),
                          (self.base + "assignment", 1), (self.ops + "services_reply", 1)])
        self.pub("status", {"status": "online", "ts_ms": now_ms()}, retain=True)
        self.last_state = None

    # section 10.2
    def register(self, site_id: str, lat_deg: float, lon_deg: float, alt_amsl_m: float,
                 timeout_s: float = 15.0, **optional: Any) -> dict[str, Any]:
        """Ask the controller to add this dock; its reply (result 0, or a code and reason)."""
        if not self.subscribed.wait(timeout_s):
            raise AssertionError("not subscribed to services_reply")
        tid = uuid.uuid4().hex
        data = {"dock_id": self.dock_id, "site_id": site_id, "lat_deg": lat_deg,
                "lon_deg": lon_deg, "alt_amsl_m": alt_amsl_m, **optional}
        self.client.publish(self.ops + "services", json.dumps(
            {"tid": tid, "timestamp": now_ms(), "method": "dock_register", "data": data}), qos=1)
        deadline = time.monotonic() + timeout_s
        while tid not in self.registration:
            if time.monotonic() > deadline:
                raise AssertionError("no reply to dock_register")
            time.sleep(0.02)
        return self.registration[tid]

    # section 4
    def on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/events_reply"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.acked.add(json.loads(msg.payload)["tid"])
            return
        if msg.topic == self.ops + "services_reply":
            with contextlib.suppress(ValueError, KeyError, TypeError):
                reply = json.loads(msg.payload)
                self.registration[reply["tid"]] = reply
            return
        if msg.topic.endswith("/assignment"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.drone_id = json.loads(msg.payload)["drone_id"]
                # section 6: sense the drone from its telemetry
                client.subscribe(f"dfr/v1/drones/{self.drone_id}/telemetry", 0)
            return
        if msg.topic.endswith("/telemetry"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.drone_in_air = bool(json.loads(msg.payload)["in_air"])
                self.telemetry_seen += 1
            return
        props = msg.properties
        self.expiry_s.append(getattr(props, "MessageExpiryInterval", None))
        with self.lock:
            self.pub("services_reply", self.answer(msg.payload))

    def refuse(self, req: dict[str, Any], result: int, reason: str) -> bytes:
        return self.reply(req, {"result": result, "output": {"reason": reason}})

    def reply(self, req: dict[str, Any], data: dict[str, Any]) -> bytes:
        def text(key: str) -> str:
            value = req.get(key)
            return value if isinstance(value, str) else ""
        return json.dumps({"tid": text("tid"), "bid": text("bid"), "timestamp": now_ms(),
                           "method": text("method"), "data": data}).encode()

    def answer(self, payload: bytes | bytearray) -> bytes:
        try:
            req = json.loads(payload)
        except ValueError:
            return self.refuse({}, 1, "not JSON")
        if not isinstance(req, dict):
            return self.refuse({}, 1, "not an object")
        tid = req.get("tid")
        if isinstance(tid, str) and tid in self.replies:
            return self.replies[tid]  # rule 1
        if not isinstance(tid, str) or not tid or not isinstance(req.get("timestamp"), int):
            return self.refuse(req, 1, "tid and timestamp are required")
        if req.get("method") not in JOB_SECONDS:
            return self.refuse(req, 2, f"unknown method {req.get('method')!r}")
        if req.get("data", {}) != {}:
            return self.refuse(req, 1, "data must be {}")
        bid = req.get("bid", "")
        if now_ms() - req["timestamp"] > 30_000:  # rule 3
            out = self.refuse(req, 13, "request expired")
        elif self.job is not None and bid and self.job["bid"] == bid:  # rule 4
            out = self.reply(req, {"result": 0, "output": {"status": "in_progress"}})
        elif self.job is not None:
            out = self.refuse(req, 9, f"busy with {self.job['method']}")
        elif self.fault and req["method"] != "device_reboot":
            out = self.refuse(req, 15, self.fault)
        else:
            self.job = {"method": req["method"], "bid": bid, "t0": time.monotonic(), "sent": -1}
            self.methods.append(req["method"])
            if req["method"] in ("cover_open", "cover_close"):
                self.cover = 2
            out = self.reply(req, {"result": 0, "output": {"status": "in_progress"}})
        self.replies[tid] = out
        return out

    # section 5, and the osd/state streams of section 3
    def event(self, status: str, percent: int, result: int = 0,
              reason: str | None = None) -> None:
        assert self.job is not None
        method = self.job["method"]
        self.pub("events", {
            "tid": uuid.uuid4().hex, "bid": self.job["bid"], "timestamp": now_ms(),
            "method": method, "need_reply": 1,
            "data": {"result": result, "output": {
                "status": status, "reason": reason,
                "progress": {"percent": percent, "step_key": STEP_KEYS.get(method, method)}}},
        })

    def run(self) -> None:
        next_osd = 0.0
        while not self.stop.is_set():
            with self.lock:
                if self.job is not None:
                    job = self.job
                    frac = (time.monotonic() - job["t0"]) / JOB_SECONDS[job["method"]]
                    percent = min(100, int(frac * 100))
                    if percent >= 100:
                        if job["method"] == "cover_open":
                            self.cover = 1
                        elif job["method"] == "cover_close":
                            self.cover = 0
                        self.event("ok", 100)
                        self.job = None
                    elif percent // 25 * 25 > job["sent"]:
                        job["sent"] = percent // 25 * 25
                        self.event("in_progress", job["sent"])
                state = {"dock_id": self.dock_id, "ts_ms": now_ms(),
                         "mode_code": 4 if self.job else 0, "cover_state": self.cover,
                         "drone_in_dock": True, "charging": self.cover == 0, "fault": self.fault}
                key = json.dumps({k: v for k, v in state.items() if k != "ts_ms"}).encode()
                if key != self.last_state:
                    self.last_state = key
                    self.pub("state", state, retain=True)
                if time.monotonic() >= next_osd:
                    next_osd = time.monotonic() + (0.5 if self.job else 1.0)
                    self.pub("osd", {
                        "dock_id": self.dock_id, "ts_ms": now_ms(),
                        "mode_code": state["mode_code"], "cover_state": self.cover,
                        "drone_in_dock": True,
                        "drone_charge_state": {"state": int(self.cover == 0),
                                               "capacity_percent": 93.0},
                        "wind_speed_m_s": self.wind_m_s, "rainfall": 0,
                        "environment_temperature_c": 9.5,
                        "emergency_stop_state": False}, qos=0)
            self.stop.wait(0.05)


# ---------------------------------------------------------------------------------------------
# The controller side.
# ---------------------------------------------------------------------------------------------


async def until(pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_controller_launches_and_recovers_through_a_guide_written_dock() -> None:
    from groundstation.adapters.broker import Mosquitto
    from groundstation.adapters.bus import Bus
    from groundstation.adapters.docks import DockLink
    from groundstation.contract import DockMethod, JobEventOutput, all_dock
    from groundstation.errors import DockError
    from groundstation.tools import asyncapi

    async with Mosquitto(persistence=False) as broker:
        dock = GuideDock("127.0.0.1", broker.port, "acme-7")
        await asyncio.to_thread(dock.start)
        try:
            async with Bus(broker.config, "controller-3p") as bus:
                link = DockLink(bus, ["acme-7"])
                for topic, qos in link.subscriptions():
                    await bus.subscribe(topic, qos)
                await bus.subscribe(all_dock("events_reply"), 1)  # check our own messages too
                await bus.subscribe(all_dock("services"), 1)
                invalid: list[str] = []
                published: list[str] = []

                async def reader() -> None:
                    async for msg in bus.messages():
                        published.append(msg.topic)
                        try:
                            asyncapi.validate(msg.topic, msg.payload)
                        except ValueError as exc:
                            invalid.append(str(exc))
                        link.handle(msg)

                task = asyncio.create_task(reader(), name="3p:reader")
                try:
                    async with asyncio.timeout(20):
                        await until(lambda: link.ready_reason(
                            "acme-7", max_wind_m_s=10, max_rainfall=1) is None)
                        progress: list[JobEventOutput] = []
                        await link.call("acme-7", DockMethod.COVER_OPEN,
                                        on_progress=progress.append)
                        await link.call("acme-7", DockMethod.DRONE_OPEN)
                        await link.call("acme-7", DockMethod.COVER_CLOSE)
                        busy = asyncio.create_task(link.call("acme-7", DockMethod.COVER_OPEN))
                        await asyncio.sleep(0.2)
                        with pytest.raises(DockError, match="busy"):
                            await link.call("acme-7", DockMethod.DRONE_CLOSE,
                                            wait_turn=False)
                        await busy
                        await until(lambda: len(dock.acked) >= 10)
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    await link.aclose()
            assert [p.progress.percent for p in progress] == [0, 25, 50, 75, 100]
            assert dock.cover == 1
            assert dock.expiry_s
            assert all(e is not None and 0 < e <= 30 for e in dock.expiry_s)
            assert invalid == []
            assert {t.rsplit("/", 1)[-1] for t in published} >= {
                "osd", "state", "status", "services", "services_reply", "events", "events_reply"}
        finally:
            await asyncio.to_thread(dock.close)

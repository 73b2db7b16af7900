"""Adapters: one module per outside library or service (aiomqtt, MAVSDK, mosquitto/amqtt,
SQLite, pymavlink's log writer) and the dock protocol client; the controller sees them through
the Protocols of ``groundstation.core.ports`` and ``groundstation.core.vehicle``."""

"""The operator console: a PyQt6 desk for remote pilots and dispatchers.

It speaks only the MQTT contract (:mod:`groundstation.contract`), never MAVSDK, so it runs on any
desk that reaches the broker. Qt is imported only inside this package (through :mod:`.qt`).

- :mod:`.model`    pure fleet picture (no Qt): drones, docks, incidents, alerts, dirty sets
- :mod:`.bridge`   the one QObject that turns bus messages into typed signals
- :mod:`.commands` operator requests and their replies, matched by tid
- :mod:`.mapview`  the native QGraphicsView slippy map and its overlays
- :mod:`.panels`   fleet, incident, alert and dock tables, the detail panel and command bar
- :mod:`.window`   the main window; repaints batched on a timer
- :mod:`.app`      ``groundstation console`` and :func:`run_console` (qasync loop)
"""

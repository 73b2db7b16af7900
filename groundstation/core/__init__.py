"""The controller's core: its configuration, its state (one object, one owner: the controller)
and the narrow typed Protocols of the I/O it is given (``ports``). No I/O here.

The rules that read the state live beside the parts that apply them: ``groundstation.sortie``
(the sortie machine), ``groundstation.dispatch`` (who goes), ``groundstation.watch`` (conditions,
failsafes, health), ``groundstation.services`` (operator requests), ``groundstation.commands``
(launch preparation), ``groundstation.telemetry`` (what is published), ``groundstation.ha``
(hot-standby election and take-over) and ``groundstation.partition`` (awards). See
docs/architecture.md.
"""

"""The controller's core, no I/O: its configuration (``config``), its state (``state``: one
object, one owner: the controller), the narrow typed Protocols of the I/O it is given (``ports``),
and the pure rules: the sortie machine (``sortie``), who goes (``dispatch``), the camera
(``camera_rules``), tracking (``tracking_rules``), crewed traffic (``traffic_rules``) and share
links (``weblink_rules``).

The rules that need the controller's view live beside the thin part that applies them, as functions
of (view, input) -> decisions: ``groundstation.control.watch`` (conditions, failsafes, health),
``groundstation.control.services`` (operator requests), ``groundstation.control.commands`` (launch
preparation), ``groundstation.control.telemetry`` (what is published), ``groundstation.control.ha``
(hot-standby election and take-over) and ``groundstation.control.partition`` (awards). The adapters
to outside libraries are in ``groundstation.adapters``. See docs/architecture.md.
"""

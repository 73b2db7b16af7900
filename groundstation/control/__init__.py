"""The controller's parts: the I/O halves around the rules of ``groundstation.core``.

Each part declares what it needs from the controller as a Protocol next to it (``WatchHost``,
``ServicesHost``, ...) and is given the controller through it; none imports
``groundstation.controller``. The controller builds them (``groundstation/controller.py``).
"""

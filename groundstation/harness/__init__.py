"""Simulation harnesses, outside the production path: the demo (the whole stack on embedded
defaults), the soak (days of incidents with faults, at a high speed-up) and the lab (a running
stack for integrators' own docks and CAD clients). The only modules of the package that import
the simulator (``sitl``); tests/unit/test_layering.py checks it."""

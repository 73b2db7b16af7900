"""Operator tools, each a ``groundstation`` subcommand and none a part of a running controller:
``report`` (incidents and sorties from a journal), ``asyncapi`` (the contract's AsyncAPI
document), ``security`` (``broker-config``: a secured mosquitto configuration from the users
file) and ``sitesfile`` (``sites check``: a site-set file against its schema)."""

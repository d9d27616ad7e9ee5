"""What the agent and the collector share: the wire contract, the config-file machinery
(walker, value parsers, secret references) and the MQTT texts people read.

Both sides install this package; neither imports the other. The contract module uses only
the standard library, so a 3.9 gateway and the county server read the same definitions.
"""

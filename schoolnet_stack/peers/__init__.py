"""Emulated protocol peers for tests: real servers speaking the real protocol (TCP, HTTP,
DNS, PJLink, UDP echo) on 127.0.0.x ports the kernel picks, each started and stopped
by a fixture. Written from the protocols' documents, not from the agent's code, so a
misreading in the agent is not mirrored here."""

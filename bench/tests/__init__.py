"""Tests of the benchmarks' own logic: pure functions without servers, and the hand-made MQTT
publisher against a real mosquitto. The benchmarks themselves are run by bench.run, not here."""

"""The hand-made MQTT publisher: its packets by the standard, then a few schools against a
real mosquitto (the fleet benchmark's 10,000 connections rely on both)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from bench import schools
from bench.fleet_publisher import (
    KEEPALIVE_S,
    SESSION_EXPIRY_S,
    connect_packet,
    minute_plan,
    publish_packet,
    run_fleet,
    subscribe_packet,
    varint,
)
from schoolnet_core import contract
from schoolnet_stack.requirements import require_binary
from schoolnet_stack.servers import Mosquitto


@pytest.mark.parametrize(("number", "encoded"),
                         [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"),
                          (16384, b"\x80\x80\x01"), (2_097_152, b"\x80\x80\x80\x01")])
def test_variable_byte_integers_as_in_the_standard(number, encoded):
    assert varint(number) == encoded


def test_connect_asks_for_a_persistent_session_and_a_retained_qos1_will():
    packet = connect_packet("bench-s00001", "schoolnet/v1/c000/s00001/status", b"{}")

    assert packet[0] == 0x10 and packet[1] == len(packet) - 2
    assert packet[2:10] == b"\x00\x04MQTT\x05" + bytes([0x2C])  # level 5; will, will QoS 1, will retain
    assert packet[10:12] == KEEPALIVE_S.to_bytes(2, "big")
    assert packet[12:18] == b"\x05\x11" + SESSION_EXPIRY_S.to_bytes(4, "big")


def test_publish_and_subscribe_carry_qos1_and_their_packet_ids():
    publish = publish_packet("a/b", b"xyz", 7, retain=True)
    assert publish == b"\x33\x0b\x00\x03a/b\x00\x07\x00xyz"
    assert subscribe_packet(9, "a/+") == b"\x82\x09\x00\x09\x00\x00\x03a/+\x01"


def test_a_school_sends_its_minute_in_time_order():
    plan = minute_plan(0, phase_s=45.0)
    assert [offset for offset, _ in plan] == sorted(offset for offset, _ in plan)
    assert sorted(kind for _, kind in plan) == sorted(schools.minute_kinds(schools.shape_of(0)))
    assert (15.0, "broadband") in plan and (45.0, "broadband") in plan


def test_simulated_schools_speak_mqtt_to_a_real_mosquitto(tmp_path):
    require_binary(Mosquitto.binary)
    with Mosquitto(tmp_path) as broker:
        received, subscribed = [], threading.Event()
        county = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        county.on_message = lambda client, userdata, message: received.append(message)
        county.on_subscribe = lambda *args: subscribed.set()
        county.on_connect = lambda client, *args: client.subscribe(contract.SUBSCRIPTION, qos=1)
        county.connect("127.0.0.1", broker.port)
        county.loop_start()
        try:
            assert subscribed.wait(10)
            began = time.time()
            counts = asyncio.run(run_fleet("127.0.0.1", broker.port, range(5), ramp_s=0.2, run_s=1.5))
            deadline = time.time() + 10
            while len(received) < counts.sent and time.time() < deadline:
                time.sleep(0.05)
        finally:
            county.disconnect()
            county.loop_stop()

    assert (counts.connected, counts.refused, counts.failed, counts.lost_connections) == (5, 0, 0, 0)
    assert counts.acked == counts.sent == len(received)
    for message in received:
        checked = contract.validate(message.topic, message.payload, int(time.time() * 1000))
        assert isinstance(checked, contract.Message), checked
        if checked.kind != contract.STATUS:
            assert began * 1000 <= checked.ts_ms <= time.time() * 1000
    births = [json.loads(m.payload) for m in received if m.topic.endswith("/status")]
    assert len(births) == 5 and all(birth["online"] for birth in births)

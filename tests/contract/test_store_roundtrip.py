"""Every kind, end to end through the real store: agent payload -> validate -> points ->
influxdb-client -> VictoriaMetrics -> read back with the same labels and values."""

from __future__ import annotations

import time

import pytest

from schoolnet_core import contract
from tests.contract.examples import contract_examples
from tests.contract.influx_points import to_points

pytestmark = pytest.mark.servers
COUNTY, SCHOOL = "hx", "hx-dazhuang-zx"


def expected_samples(document: dict, ts_ms: int) -> dict:
    """(metric name, frozenset of labels) -> value, worked out from the example by hand
    rather than from to_points, so the mapping itself is under test."""
    kind = document["kind"]
    measurement = "schoolnet_agent" if kind == contract.STATUS else f"schoolnet_{kind}"
    samples: dict = {}
    _expect(samples, measurement, contract.KINDS[kind], document, {"county": COUNTY, "school": SCHOOL})
    return samples


def _expect(samples, measurement, spec, values, parent_labels):
    labels = dict(parent_labels)
    for key, field_type in spec.items():
        if key in values and field_type.tag:
            value = values[key]
            labels[key] = ("true" if value else "false") if isinstance(value, bool) else value
    for key, field_type in spec.items():
        if key in values and not field_type.tag and not isinstance(field_type, contract.Items):
            name = f"{measurement}_{key}"
            samples[(name, frozenset(labels.items()))] = float(values[key])
    for key, field_type in spec.items():
        if isinstance(field_type, contract.Items):
            for item in values.get(key, ()):
                _expect(samples, f"{measurement}_{field_type.item}", field_type.spec, item, labels)


def stored_samples(victoria_metrics) -> dict:
    rows = victoria_metrics.export('{__name__=~"schoolnet_.*"}')
    samples = {}
    for row in rows:
        labels = dict(row["metric"])
        name = labels.pop("__name__")
        assert len(row["values"]) == 1, row
        samples[(name, frozenset(labels.items()))] = (row["values"][0], row["timestamps"][0])
    return samples


@pytest.mark.parametrize("kind", sorted(contract.KINDS))
def test_kind_round_trips_through_victoria_metrics(kind, victoria_metrics):
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    now_ms = int(time.time() * 1000)
    document = contract_examples()[kind]
    body = {key: value for key, value in document.items() if key not in contract.ENVELOPE}
    payload = contract.encode(kind, COUNTY, SCHOOL, now_ms, body)

    message = contract.validate(contract.topic(COUNTY, SCHOOL, kind), payload, now_ms)
    assert isinstance(message, contract.Message), message
    points = to_points(message, received_ms=now_ms)
    with InfluxDBClient(url=victoria_metrics.url, token="unused", org="schoolnet") as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket="schoolnet", record=points)

    expected = expected_samples(document, now_ms)
    stored = victoria_metrics.wait_for(lambda: _complete(stored_samples(victoria_metrics), expected))
    assert {key: value for key, (value, _) in stored.items()} == expected
    assert {ts for _, ts in stored.values()} == {now_ms}


def _complete(stored: dict, expected: dict):
    return stored if len(stored) >= len(expected) else None

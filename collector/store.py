"""Writes line protocol to the time-series store and says plainly whether it worked.

influxdb-client's default write_api batches in a background thread and drops what it
cannot write; we ack MQTT messages only after a confirmed write, so this uses the
SYNCHRONOUS api: write() returns after a 2xx, or raises StoreError. Retrying is the
caller's business (it also decides when to stop taking messages).
"""

from __future__ import annotations

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from schoolnet_core.config import Secret


class StoreError(Exception):
    """The store did not confirm a write; the message is safe to log (no token)."""


class Store:
    """VictoriaMetrics or InfluxDB 2 through the InfluxDB v2 write API."""

    def __init__(self, url: str, org: str, bucket: str, token: Secret | None, timeout_s: float):
        self.url = url
        self.bucket = bucket
        self._client = InfluxDBClient(
            url=url,
            token=token.reveal() if token else None,
            org=org,
            timeout=int(timeout_s * 1000),
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: list[str]) -> None:
        # One body of bytes: handed a list, influxdb-client would encode and collect the
        # lines one by one in Python, which costs more than the HTTP write itself.
        body = "\n".join(lines).encode("utf-8")
        try:
            self._write_api.write(bucket=self.bucket, record=body, write_precision=WritePrecision.MS)
        except ApiException as error:
            raise StoreError(f"{self.url} answered HTTP {error.status}: {_short(error.body)}") from None
        except Exception as error:  # noqa: BLE001 - urllib3 raises many kinds: refused, reset...
            raise StoreError(f"{self.url} unreachable: {type(error).__name__}: {_short(str(error))}") from None

    def close(self) -> None:
        self._client.close()


def _short(text: object, limit: int = 200) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text or "").split())[:limit]

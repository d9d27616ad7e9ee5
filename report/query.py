"""Reading VictoriaMetrics over its HTTP API: instant rollups and raw-sample export.

The report never reads the MQTT stream: the store holds what the schools reported, with
the original timestamps. Two calls are enough. Counting over an interval is done by
VictoriaMetrics (count_over_time / sum_over_time with the interval as the window), since
a term of 30 s samples is far more than query_range returns per series (30,000) and more
than Python should parse; the few raw samples that need order (an outage's length, a
speed test, a sync session) come from /api/v1/export.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

Labels = dict[str, str]


class StoreError(RuntimeError):
    """VictoriaMetrics could not be read; the message says what to check."""


@dataclass
class Store:
    """One VictoriaMetrics (or vmselect) URL, with the time spent waiting on it."""

    url: str
    timeout_s: float = 120.0
    seconds: float = 0.0
    requests: int = 0
    _opener: urllib.request.OpenerDirector = field(default_factory=urllib.request.build_opener, repr=False)

    def instant(self, query: str, at_ms: int) -> list[tuple[Labels, float]]:
        """An instant query at `at_ms`: (labels, value) per series. nocache=1 so that an
        answer cached before late data arrived is never reused for a report."""
        body = self._get("/api/v1/query", {"query": query, "time": f"{at_ms / 1000:.3f}", "nocache": "1"})
        document = json.loads(body)
        if document.get("status") != "success":
            raise StoreError(f"query {query!r} failed: {document.get('error', document)}")
        return [(item["metric"], float(item["value"][1])) for item in document["data"]["result"]]

    def export(self, match: str, start_ms: int, end_ms: int) -> Iterator[tuple[Labels, list[int], list[float]]]:
        """Raw samples of the series matching `match` with start <= ts <= end (both in ms),
        as (labels, timestamps, values); a series may come in several blocks."""
        params = {"match[]": match, "start": f"{start_ms / 1000:.3f}", "end": f"{end_ms / 1000:.3f}"}
        body = self._get("/api/v1/export", params)
        for line in body.splitlines():
            if line.strip():
                item = json.loads(line)
                yield item["metric"], item["timestamps"], item["values"]

    def _get(self, path: str, params: dict[str, str]) -> bytes:
        url = f"{self.url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        started = time.perf_counter()
        try:
            with self._opener.open(url, timeout=self.timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode("utf-8", "replace")
            raise StoreError(f"VictoriaMetrics {path} answered HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise StoreError(f"cannot reach VictoriaMetrics at {self.url}: {reason}; "
                             "check --store (e.g. http://127.0.0.1:8428)") from None
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1


def selector(metric: str, **labels: str) -> str:
    """A series selector; values are quoted for MetricsQL (ids never need escaping, but a
    caller's regex of several ids uses =~, given as a key ending in '__re')."""
    parts = [f'__name__="{metric}"']
    for key, value in labels.items():
        op, key = ("=~", key[:-4]) if key.endswith("__re") else ("=", key)
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key}{op}"{escaped}"')
    return "{" + ",".join(parts) + "}"

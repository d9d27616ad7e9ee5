"""One VictoriaMetrics for the tests of reports, holding the 31 days of tests/report/history.py,
written in one request of line protocol; and the month's report made from it once."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from report import gather, periods
from report.figures import build
from report.query import Store
from schoolnet_stack import servers
from schoolnet_stack.requirements import require_binary
from tests.report import history


@pytest.fixture(scope="session")
def history_store(tmp_path_factory):
    """VictoriaMetrics as deployed (dedup per millisecond) with October 2026 in it; the
    retention is long because the month is in the past of whoever runs the test."""
    require_binary(servers.VictoriaMetrics.binary)
    vm = servers.VictoriaMetrics(tmp_path_factory.mktemp("vm"), dedup_interval="1ms", retention_period="100y")
    vm.start()
    try:
        vm.write_lines(history.line_protocol())
        vm.flush()
        yield vm
    finally:
        vm.close()


@pytest.fixture(scope="session")
def october(history_store):
    """The report for both counties and October 2026, read from the store once."""
    store = Store(history_store.url)
    period = periods.month("2026-10")
    observed = gather.gather(store, history.ROSTER, history.ROSTER.schools, period)
    generated = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)
    return build(history.ROSTER, history.ROSTER.schools, period, observed, generated)

"""Missing servers or root: skip with a reason, but fail under CI=true."""

from __future__ import annotations

import pytest

from schoolnet_stack import requirements


def test_missing_requirement_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"nothing-here.*CI=true.*scripts/setup"):
        requirements.require_binary("/nonexistent/nothing-here")


def test_missing_requirement_skips_elsewhere(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"nothing-here.*scripts/setup"):
        requirements.require_binary("/nonexistent/nothing-here")


def test_found_binary_is_returned_with_its_path():
    assert requirements.require_binary("sh").endswith("/sh")

"""The tree's corridors hold: each rule in import_rules passes on the real tree, and each
would catch a forbidden import (the test of the test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.boundaries.import_rules import ROOT, rules, stdlib_only, violations


def test_the_tree_keeps_every_import_rule():
    found = violations()
    assert not found, "forbidden imports:\n" + "\n".join(map(str, found))


def test_the_contract_imports_only_the_standard_library():
    contract = ROOT / "schoolnet_core" / "contract.py"
    assert contract.is_file()
    assert stdlib_only(contract) == []


def test_every_rule_names_a_folder_that_exists():
    missing = [rule.source for rule in rules() if not (ROOT / rule.source).exists()]
    assert missing == []


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule.source)
def test_each_rule_catches_a_forbidden_import(tmp_path: Path, rule):
    forbidden = min(rule.forbidden)
    package = tmp_path / rule.source / "sub"
    package.mkdir(parents=True)
    (package / "ok.py").write_text("import json\nfrom schoolnet_core import contract\n")
    (package / "bad.py").write_text(f"import json\n\n\ndef late():\n    from {forbidden}.x import y\n")
    found = violations(tmp_path, (rule,))
    assert [(v.file, v.line, v.module) for v in found] == [
        (f"{rule.source}/sub/bad.py", 5, f"{forbidden}.x")]
    assert rule.why in str(found[0])


def test_a_third_party_import_in_the_contract_is_caught(tmp_path: Path):
    contract = tmp_path / "contract.py"
    contract.write_text("from __future__ import annotations\nimport json\nimport yaml\n"
                        "from influxdb_client import Point\n")
    assert stdlib_only(contract) == [(3, "yaml"), (4, "influxdb_client")]

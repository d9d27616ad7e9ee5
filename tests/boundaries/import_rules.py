"""Which package may import which: the corridors of the tree, checked with the stdlib's ast.

A rule names a package (a folder or a module file under the repository root) and the
top-level names it must never import. Imports inside functions count too: a lazy import
is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("agent", "collector", "schoolnet_core", "dashboards", "demo", "bench", "deploy")


@dataclass(frozen=True)
class Rule:
    source: str  # path under the root: a package folder or one module file
    forbidden: frozenset[str]  # top-level module names
    why: str


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    module: str
    rule: Rule

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: imports {self.module}: {self.rule.why}"


def rules() -> tuple[Rule, ...]:
    everything_else = frozenset(("agent", "collector", "dashboards", "demo", "bench", "tests"))
    return (
        Rule("collector", frozenset(("agent", "schoolnet_stack", "tests")),
             "the collector shares only schoolnet_core with the agent"),
        Rule("agent", frozenset(("collector", "schoolnet_stack", "tests")),
             "the agent shares only schoolnet_core with the collector"),
        Rule("schoolnet_core", everything_else | {"schoolnet_stack"},
             "the core is what both sides install; it depends on neither"),
        Rule("deploy", frozenset(("tests", "agent", "collector")),
             "deploy scripts run on a bare server; they use schoolnet_core only"),
        Rule("dashboards", frozenset(("tests", "agent", "collector")),
             "boards are generated from the contract, not from either side"),
        Rule("schoolnet_stack", frozenset(("tests",)),
             "the stack is a product package that the demo and the benchmarks run"),
        Rule("demo", frozenset(("tests",)), "product code never imports tests; servers and peers are schoolnet_stack's"),
        Rule("bench", frozenset(("tests",)), "product code never imports tests; servers and peers are schoolnet_stack's"),
    )


def stdlib_only(path: Path) -> list[tuple[int, str]]:
    """Imports of `path` that are not the standard library (the contract runs on a 3.9
    gateway and a county server alike, with nothing installed beside it)."""
    return [(line, name) for line, name in imports(path)
            if name.split(".")[0] not in sys.stdlib_module_names and name != "__future__"]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def violations(root: Path = ROOT, checked: tuple[Rule, ...] | None = None) -> list[Violation]:
    found = []
    for rule in checked or rules():
        base = root / rule.source
        files = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for file in files:
            for line, module in imports(file):
                if module.split(".")[0] in rule.forbidden:
                    found.append(Violation(str(file.relative_to(root)), line, module, rule))
    return found

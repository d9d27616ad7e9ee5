"""A measurement kind as one folder: its probe, config section, contract fields, check row
and example snippet, registered by one line.

A kind's module (or package) builds one MeasurementKind and ends with ``register(KIND)``.
Both sides load the kind modules their config names under ``kinds:`` (agent.yaml and
collector.yaml), so the agent measures and publishes it and the collector validates and
stores it, without a line changed anywhere else. A kind module imports only the standard
library and schoolnet_core at its top, so the collector can load it without the agent.

Adding a kind, step by step: README.md "Adding a measurement kind".
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from schoolnet_core import contract
from schoolnet_core.config.parsers import module_name
from schoolnet_core.config.walker import Walk

VERDICTS = ("pass", "fail", "info")


@dataclass(frozen=True)
class CheckLine:
    """A kind's line in `schoolnet-agent check`: verdict one of VERDICTS; a failing
    line fails the check like any of the four targets."""

    verdict: str
    value: str
    why: str = ""


@dataclass(frozen=True)
class MeasurementKind:
    """Everything schoolnet needs to know about one kind of measurement.

    `read_settings(walk, node, path)` reads the kind's config section with the shared
    walker (node None when the section is absent: return None to leave the kind off);
    `measure(settings)` is one round, returning the message body; `check(body, settings)`
    judges one round for `schoolnet-agent check`."""

    name: str  # the topic's kind, the config section and the measurement: schoolnet_<name>
    title: str  # as people read it, zh-CN first: "机房温度 (server room temperature)"
    fields: Mapping[str, contract.FieldType]
    read_settings: Callable[[Any, Any, str], Any]
    measure: Callable[[Any], Awaitable[dict]]
    interval_s: Callable[[Any], float]
    check: Callable[[dict, Any], CheckLine] | None = None
    example: str = ""  # the kind's section of agent.yaml, as it would appear there
    rules: Path | None = None  # its vmalert rule file, beside it
    board: Callable[[], dict] | None = None  # builds its Grafana panel(s)
    source: str = field(default="", compare=False)  # the module that registered it


_REGISTERED: dict[str, MeasurementKind] = {}


def register(kind: MeasurementKind) -> MeasurementKind:
    """The one line a kind's module ends with."""
    kind = replace(kind, source=kind.source or getattr(kind.measure, "__module__", ""))
    known = _REGISTERED.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"measurement kind {kind.name!r} is registered twice "
                         f"({known.source or '?'} and {kind.source or '?'})")
    contract.register_kind(kind.name, kind.fields)
    _REGISTERED[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Forgets a kind (tests load and drop a kind of their own)."""
    if _REGISTERED.pop(name, None) is not None:
        contract.unregister_kind(name)


def registered() -> dict[str, MeasurementKind]:
    return dict(_REGISTERED)


def load(module_name: str) -> tuple[MeasurementKind, ...]:
    """Imports a kind's module and returns the kinds it registered; raises ValueError
    saying what to fix when it cannot be imported or registers nothing."""
    before = set(_REGISTERED)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} ({error}); install the package "
                         "that provides it or remove it from kinds") from None
    new = [kind for name, kind in _REGISTERED.items() if name not in before]
    if not new:
        new = [kind for kind in _REGISTERED.values()
               if (kind.source + ".").startswith(module.__name__ + ".")]
    if not new:
        raise ValueError(f"{module_name!r} registers no measurement kind; end it with "
                         "register(KIND)")
    return tuple(new)


def read_kinds(walk: Walk, root: yaml.Node, reserved: Sequence[str] = ()) -> tuple[MeasurementKind, ...]:
    """The kinds a config file names under its top-level `kinds:`, each module imported
    (which registers its kind) before the file's sections are read: the agent's config
    gains a section per kind (none may take a `reserved` section name), the collector's
    contract a kind to validate."""
    node = _top_level(root, "kinds")
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode):
        walk.problem(walk.line(node), "kinds", "must be a list of Python module names, "
                                               "e.g. [schoolnet_kinds.room_temperature]")
        return ()
    found: dict[str, MeasurementKind] = {}
    for index, item in enumerate(node.value):
        module = walk.scalar(item, f"kinds[{index}]", module_name)
        try:
            found.update((kind.name, kind) for kind in (load(module) if module else ()))
        except ValueError as error:
            walk.problem(item.start_mark.line + 1, f"kinds[{index}]", str(error))
    taken = [name for name in found if name in reserved]
    for name in taken:
        walk.problem(walk.line(node), "kinds", f"kind {name!r} clashes with the agent's own section")
    return tuple(kind for name, kind in found.items() if name not in taken)


def _top_level(root: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(root, yaml.MappingNode):
        for key_node, value in root.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value
    return None

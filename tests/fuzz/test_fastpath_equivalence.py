"""The compiled contract (collector/fastpath.py) against the contract itself.

The fast path may only say "accepted, with these lines" for what contract.validate accepts
and to_lines writes the same way; everything else falls back to the contract, so the
collector's verdicts and dead-letter reasons are the contract's. Checked here on more than
10,000 generated messages: valid ones, ones with one thing changed (the fuzz generators'
mutations), damaged bytes, arbitrary JSON, and duplicated keys, the one thing msgspec
does not see by itself.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from collector import fastpath, intake
from schoolnet_core import contract
from tests.fuzz.messages import (
    NOW_MS,
    _envelope_changed,
    _field_changed,
    _topic_changed,
    _unknown_field_added,
    any_json_payload,
    damaged,
    drafts,
    payload_of,
    value_of,
)
from tests.fuzz.reproducible import FUZZ

RECEIVED_MS = NOW_MS
FAMILIES = 880  # of 12 messages each


def reference(topic: str, payload: bytes) -> intake.Accepted | intake.Refused | intake.Ignored:
    """What intake answered before the fast path: the contract's validate and to_lines."""
    saved, intake.fastpath = intake.fastpath, None
    try:
        return intake.examine(topic, payload, RECEIVED_MS)
    finally:
        intake.fastpath = saved


def _dump(value: object, twice: int | None, counter: list[int], extra: str) -> str:
    """JSON text of `value`; the object numbered `twice` (in document order) gets its
    first key written again with `extra` (raw JSON) as the repeated value."""
    if isinstance(value, dict):
        number = counter[0]
        counter[0] += 1
        pairs = [f"{json.dumps(k)}: {_dump(v, twice, counter, extra)}" for k, v in value.items()]
        if number == twice and pairs:
            first = next(iter(value))
            pairs.insert(random.Random(len(pairs)).randint(0, len(pairs)), f"{json.dumps(first)}: {extra}")
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v, twice, counter, extra) for v in value) + "]"
    return json.dumps(value)  # escaped: lone surrogates stay writable


@st.composite
def duplicated_key(draw, draft) -> tuple[str, bytes]:
    """The draft with one key written twice, in any of its objects, with the same value,
    another valid value of the field, or an invalid one."""
    document = draft.document()
    twice = draw(st.sampled_from([n for n in range(_count_objects(document)) if _object_number(document, n)]))
    extra = draw(st.sampled_from(["same", "other", "bad"]))
    first = next(iter(_object_number(document, twice)))
    field_type = _field_type(draft.kind, document, twice, first)
    if extra == "same":
        raw = json.dumps(_object_number(document, twice)[first])
    elif extra == "other" and field_type is not None:
        raw = json.dumps(draw(value_of(field_type)))
    else:
        raw = '"not what the contract wants"'
    return draft.topic, _dump(document, twice, [0], raw).encode()


def _count_objects(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(_count_objects(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_objects(v) for v in value)
    return 0


def _object_number(value: object, wanted: int) -> dict:
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(value)
    return found[wanted]


def _field_type(kind: str, document: dict, number: int, key: str) -> contract.FieldType | None:
    """The field type of `key` in the numbered object, when it is the top level (nested
    objects get a wrong-typed repeat: still a duplicate key)."""
    return contract.KINDS[kind].get(key) if number == 0 else None


def _assert_same(topic: str, payload: bytes, tally: Counter) -> None:
    expected = reference(topic, payload)
    answered = intake.examine(topic, payload, RECEIVED_MS)
    assert type(answered) is type(expected), (topic, payload[:300], expected, answered)
    assert answered == expected, (topic, payload[:300], expected, answered)
    parts = contract.parse_topic(topic)
    fast = fastpath.examine(parts, payload, RECEIVED_MS) if isinstance(parts, contract.TopicParts) else None
    tally["messages"] += 1
    tally[type(expected).__name__ + (f": {expected.reason}" if isinstance(expected, intake.Refused) else "")] += 1
    if fast is not None:
        tally["fast"] += 1
        assert isinstance(expected, intake.Accepted), (payload[:300], expected)
        assert fast.lines == expected.lines


@st.composite
def families(draw) -> list[tuple[str, bytes]]:
    """Twelve messages made from one generated draft (drawing a draft is most of the time
    hypothesis spends): it valid, written both ways; with one field changed (three
    times), an unknown field, a changed envelope, a changed topic (messages.py's own
    mutations); one key twice; damaged bytes (twice); and arbitrary JSON."""
    draft = draw(drafts())
    family = [(draft.topic, payload_of(draft.document(), ensure_ascii=ascii)) for ascii in (False, True)]
    changes = [_field_changed] * 3 + [_unknown_field_added, _envelope_changed, _topic_changed]
    # each mutation changes the draft it is given: each gets its own copy
    family += [(case.topic, case.payload) for case in (draw(change(copy.deepcopy(draft))) for change in changes)]
    family.append(draw(duplicated_key(draft)))
    family += [(draft.topic, draw(damaged(family[0][1]))) for _ in range(2)]
    family.append(draw(any_json_payload()))
    return family


def test_fast_path_agrees_with_the_contract_on_10000_generated_messages():
    tally: Counter = Counter()

    @settings(FUZZ, max_examples=FAMILIES)
    @given(family=families())
    def check(family):
        for topic, payload in family:
            _assert_same(topic, payload, tally)

    check()
    assert tally["messages"] >= 10_000, tally
    # The comparison means something only if the fast path took a good share of them
    # (most valid messages), and refusals of every kind were compared.
    assert tally["fast"] >= 0.7 * tally["Accepted"], tally
    assert tally["Refused: bad_json"] >= 500, tally
    assert len([name for name in tally if name.startswith("Refused")]) >= 15, tally


def test_duplicate_keys_are_never_taken_by_the_fast_path():
    """msgspec keeps the last of two equal keys; the contract refuses them (bad_json)."""
    good = contract.encode("health", "hx", "hx-a", NOW_MS, {
        "agent_version": "1.0", "cpu_pct": 1.0, "mem_pct": 2.0, "disk_pct": 3.0, "uptime_s": 4.0,
        "spool_depth": 0, "spool_oldest_age_s": 0.0, "spool_dropped_total": 0})
    topic = contract.topic("hx", "hx-a", "health")
    assert isinstance(intake.examine(topic, good, RECEIVED_MS), intake.Accepted)
    assert fastpath.examine(contract.parse_topic(topic), good, RECEIVED_MS) is not None
    twice = good.replace(b'"cpu_pct":1.0', b'"cpu_pct":1.0,"cpu_pct":1.0')
    assert fastpath.examine(contract.parse_topic(topic), twice, RECEIVED_MS) is None
    refused = intake.examine(topic, twice, RECEIVED_MS)
    assert refused == intake.Refused("bad_json", "key 'cpu_pct' appears twice")


def test_a_kind_registered_at_run_time_is_compiled_then_rebuilt_when_redefined():
    topic = contract.topic("hx", "hx-a", "fastpath_probe")
    payload = json.dumps({"schema": 1, "kind": "fastpath_probe", "county": "hx", "school": "hx-a",
                          "ts": NOW_MS, "celsius": 21.5}).encode()
    contract.register_kind("fastpath_probe", {"celsius": contract.Num(-40, 80)})
    try:
        accepted = intake.examine(topic, payload, RECEIVED_MS)
        assert accepted.lines == (f"schoolnet_fastpath_probe,county=hx,school=hx-a celsius=21.5 {NOW_MS}",)
        assert fastpath.examine(contract.parse_topic(topic), payload, RECEIVED_MS) is not None
    finally:
        contract.unregister_kind("fastpath_probe")
    assert intake.examine(topic, payload, RECEIVED_MS).reason == "unknown_kind"
    contract.register_kind("fastpath_probe", {"celsius": contract.Num(-40, 20)})
    try:
        assert fastpath.examine(contract.parse_topic(topic), payload, RECEIVED_MS) is None
        assert intake.examine(topic, payload, RECEIVED_MS).reason == "out_of_range"
    finally:
        contract.unregister_kind("fastpath_probe")

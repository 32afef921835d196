"""The cheap checks of a JSON body agree with a plain reading of the same document."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from omnirelay.formats.json_limits import largest_string, nesting_exceeds

TEXTS = st.text(alphabet=st.sampled_from('ab[]{}"\\,: é'), max_size=12)
DOCUMENTS = st.recursive(
    st.none() | st.integers() | TEXTS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def longest(value: Any) -> int:
    if isinstance(value, str):
        return len(json.dumps(value)) - 2  # as it stands in the body, escapes included
    if isinstance(value, list):
        return max((longest(v) for v in value), default=0)
    if isinstance(value, dict):
        return max([longest(k) for k in value] + [longest(v) for v in value.values()], default=0)
    return 0


@given(document=DOCUMENTS, limit=st.integers(0, 8))
def test_nesting_is_measured_outside_strings(document: Any, limit: int) -> None:
    body = json.dumps(document, ensure_ascii=False).encode()
    assert nesting_exceeds(body, limit) == (depth(document) > limit)


@given(document=DOCUMENTS, floor=st.integers(0, 10))
def test_the_longest_string_is_found(document: Any, floor: int) -> None:
    body = json.dumps(document).encode()
    found = largest_string(body, floor)
    expected = longest(document)
    assert found == (expected if expected > floor and len(body) > floor else 0)


def test_very_deep_bodies_are_measured_without_recursion() -> None:
    body = b"[" * 300_000 + b"]" * 300_000
    assert nesting_exceeds(body, 64)
    assert not nesting_exceeds(b'{"a": "' + b"[" * 10_000 + b'"}', 64)

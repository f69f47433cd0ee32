"""Packed JSON values: what goes in comes back, smaller, and never shared."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tether.packed import normalized, pack, unpack

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_value)
def test_every_json_value_round_trips(value: Any) -> None:
    assert unpack(pack(value)) == value


def test_a_kubernetes_object_is_smaller_packed_and_each_read_is_a_fresh_copy() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web", "namespace": "ns", "labels": {"tether.dev/app": "ns_web"}},
        "data": {f"key{i}": "value " * 20 for i in range(40)},  # 5 KB, over the window
    }
    packed = pack(obj)
    assert len(packed) < len(json.dumps(obj, separators=(",", ":"))) / 4
    first = unpack(packed)
    first["data"]["key0"] = "changed"
    assert unpack(packed) == obj and unpack(packed) is not unpack(packed)


def test_tuples_come_back_as_lists_as_normalized_says() -> None:
    value = {"resources": ({"kind": "ConfigMap"},), "n": 1}
    assert (
        unpack(pack(value)) == normalized(value) == {"resources": [{"kind": "ConfigMap"}], "n": 1}
    )

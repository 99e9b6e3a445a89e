"""The store's JSON of small columns (an event's data, a migration's workarounds)."""

from __future__ import annotations

import json

from hvroll.store.models import dumps


def test_dumps_is_compact_json_with_sorted_keys() -> None:
    value = {"vm": "vm-1", "b": [1, 2.5, None, True], "a": {"z": "é", "y": float("inf")}}
    assert dumps(value) == ('{"a":{"y":Infinity,"z":"\\u00e9"},"b":[1,2.5,null,true],'
                            '"vm":"vm-1"}')
    assert dumps(value) == json.dumps(value, separators=(",", ":"), sort_keys=True)
    assert dumps([]) == "[]"

"""The shared allow-list vectors (conformance/policy.json) through ``wasmpg._policy.Policy``.

Needs no database and no component: run with ``PYTHONPATH=src python3 -m pytest
tests/test_conformance_policy.py`` from ``python/`` (or against the installed package).
"""

from __future__ import annotations

import json
import os

import pytest

from wasmpg._policy import Policy
from wasmpg.errors import InterfaceError

_VECTORS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "conformance", "policy.json"
)

with open(_VECTORS, encoding="utf-8") as _f:
    _DOC = json.load(_f)

_CASES = _DOC["cases"]


def test_topic():
    assert _DOC["topic"] == "policy"


@pytest.mark.parametrize("case", _CASES, ids=[c["name"] for c in _CASES])
def test_policy_vector(case):
    difference = case.get("known_difference", {}).get("python")
    if difference is not None:
        pytest.skip("known difference: %s" % difference)
    expected = case["expected"]
    entries = case["input"]["allow"]
    if "error" in expected:
        assert expected["error"]["kind"] == "config"
        with pytest.raises(InterfaceError) as e:
            Policy.parse(entries)
        assert expected["error"]["message_contains"] in str(e.value)
        return
    policy = Policy.parse(entries)
    target = case["input"]["target"]
    if target["kind"] == "tcp":
        wanted = ("tcp", (target["host"], target["port"]))
    else:
        wanted = ("unix", target["path"])
    assert policy.allows(wanted) is expected["allowed"], str(policy)

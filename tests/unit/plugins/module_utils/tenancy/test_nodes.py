"""cloud_node's logic (_tenancy/nodes.py) on both store backends, and the scheduler honouring it."""

from __future__ import annotations

import pytest
from test_tenancy import NOW, reserve, tenant

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.nodes import ensure_node


def node(store, check=False, now=NOW, **params):
    return ensure_node(store, dict({"name": "pve1", "state": "maintenance"}, **params), check, now)


def test_maintenance_check_apply_check_apply(store):
    predicted = node(store, check=True, reason="BIOS")
    assert predicted["changed"] and predicted["node"]["state"] == "maintenance"
    assert predicted["diff"] == {
        "before": {"state": "active", "reason": None},
        "after": {"state": "maintenance", "reason": "BIOS"},
    }
    assert node(store, check=True, reason="BIOS")["changed"], "check mode changed the store"
    applied = node(store, reason="BIOS")
    assert applied["changed"] and applied["node"] == predicted["node"]
    assert node(store, check=True, reason="BIOS")["changed"] is False
    again = node(store, now=NOW + 60, reason="BIOS")
    assert again["changed"] is False
    assert again["node"] == {"name": "pve1", "state": "maintenance", "reason": "BIOS", "since": "2027-01-15T08:00:00Z"}


def test_reason_is_kept_when_not_given_and_cleared_by_active(store):
    node(store, reason="disk swap")
    assert node(store, now=NOW + 5)["node"]["reason"] == "disk swap"
    changed = node(store, now=NOW + 9, reason="disk swap and RAM")
    assert changed["changed"] and changed["node"]["since"] == "2027-01-15T08:00:00Z"
    back = node(store, now=NOW + 10, state="active")
    assert back["changed"] and back["node"]["state"] == "active" and back["node"]["reason"] is None
    assert node(store, now=NOW + 11, state="active")["changed"] is False


def test_a_node_never_marked_is_active_and_unchanged(store):
    result = node(store, state="active")
    assert result["changed"] is False
    assert result["node"] == {"name": "pve1", "state": "active", "reason": None, "since": None}


def test_placement_skips_a_node_in_maintenance_and_uses_it_again_after(store):
    tenant(store)
    node(store, name="pve1")
    assert {reserve(store, "m%d" % i)["reservation"]["node"] for i in range(3)} == {"pve2"}
    node(store, name="pve1", state="active")
    assert reserve(store, "back")["reservation"]["node"] == "pve1"


@pytest.mark.parametrize("name", ["", "-pve", "pve_1", "a" * 64, "pve 1"])
def test_bad_names_are_refused_before_any_change(store, name):
    with pytest.raises(ValidationError, match="name: .* is not a node name"):
        node(store, name=name)

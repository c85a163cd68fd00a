"""Pool settings: read from `osd dump`, validated, compared and planned as mon commands, without Ceph."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph import pools
from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

RULES = {0: "replicated_rule", 1: "ssd"}


def dump_entry(**over: Any) -> dict:
    entry = {
        "pool": 3,
        "pool_name": "ic-vms",
        "type": 1,
        "size": 1,
        "min_size": 1,
        "crush_rule": 0,
        "pg_num": 8,
        "pg_num_target": 8,
        "pg_autoscale_mode": "off",
        "application_metadata": {"rbd": {}},
        "quota_max_bytes": 0,
        "quota_max_objects": 0,
        "erasure_code_profile": "",
        "flags_names": "hashpspool,selfmanaged_snaps",
    }
    entry.update(over)
    return entry


def params(**over: Any) -> dict:
    base = {
        "name": "ic-vms",
        "state": "present",
        "pool_type": "replicated",
        "erasure_profile": None,
        "confirm_delete": False,
        "pg_num": None,
        "pg_autoscale_mode": None,
        "size": None,
        "min_size": None,
        "crush_rule": None,
        "application": None,
        "quota_max_bytes": None,
        "quota_max_objects": None,
    }
    base.update(over)
    return base


def test_pool_from_dump_compares_the_pg_num_target():
    # After `osd pool set pg_num 16` Ceph ramps pg_num; the target is what the user asked for.
    pool = pools.pool_from_dump(dump_entry(pg_num=8, pg_num_target=16), RULES)
    assert pool["pg_num"] == 16
    assert pool["pg_num_actual"] == 8
    assert pool["type"] == "replicated"
    assert pool["crush_rule"] == "replicated_rule"
    assert pool["application"] == "rbd"
    assert pool["erasure_profile"] is None
    assert pool["flags"] == ["hashpspool", "selfmanaged_snaps"]


def test_pool_from_dump_erasure():
    pool = pools.pool_from_dump(dump_entry(type=3, erasure_code_profile="k2m1", application_metadata={}), RULES)
    assert pool["type"] == "erasure"
    assert pool["erasure_profile"] == "k2m1"
    assert pool["application"] is None


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"pg_num": 0}, "pg_num: must be at least 1, got 0"),
        ({"size": 0}, "size: must be between 1 and 10"),
        ({"min_size": 11}, "min_size: must be between 1 and 10"),
        ({"application": "rbd,rgw"}, "application: expected one application name"),
        ({"quota_max_bytes": "-1"}, "quota_max_bytes: must not be negative"),
        ({"quota_max_objects": -1}, "quota_max_objects: must not be negative"),
    ],
)
def test_desired_settings_refuses(over, message):
    with pytest.raises(ValidationError) as e:
        pools.desired_settings(params(**over))
    assert message in str(e.value)


def test_desired_settings_normalises():
    want = pools.desired_settings(params(quota_max_bytes="1G", application=" rbd ", size=3))
    assert want["quota_max_bytes"] == 1024**3
    assert want["application"] == "rbd"
    assert want["size"] == 3
    assert want["pg_num"] is None


@pytest.mark.parametrize(
    ("want", "have", "pool_type", "message"),
    [
        ({"size": 4}, None, "replicated", "size: 4 replicas need 4 OSDs, but the cluster has 3"),
        ({"size": 2, "min_size": 3}, None, "replicated", "min_size: 3 is more than size 2"),
        ({"min_size": 2}, "have", "replicated", "min_size: 2 is more than size 1"),
        ({"crush_rule": "nvme"}, None, "replicated", "crush_rule: no crush rule 'nvme'"),
        ({"size": 2}, None, "erasure", "size: the size of an erasure-coded pool"),
        ({}, "have", "erasure", "pool_type: pool ic-vms is replicated"),
    ],
)
def test_validate_refuses(want, have, pool_type, message):
    current = pools.pool_from_dump(dump_entry(), RULES) if have else None
    with pytest.raises(ValidationError) as e:
        pools.validate(want, current, pool_type, 3, RULES)
    assert message in str(e.value)


def test_validate_accepts():
    pools.validate({"size": 3, "min_size": 2, "crush_rule": "ssd"}, None, "replicated", 3, RULES)


def test_compare_every_setting():
    have = pools.pool_from_dump(dump_entry(), RULES)
    want = pools.desired_settings(
        params(size=3, min_size=2, pg_num=16, application="rgw", quota_max_bytes="10M", quota_max_objects=5)
    )
    diff = Diff()
    fields = pools.compare(have, want, diff)
    assert fields == ["pg_num", "size", "min_size", "application", "quota_max_bytes", "quota_max_objects"]
    assert diff.before == {
        "pg_num": 8,
        "size": 1,
        "min_size": 1,
        "application": "rbd",
        "quota_max_bytes": 0,
        "quota_max_objects": 0,
    }
    assert diff.after["quota_max_bytes"] == 10 * 1024**2


def test_compare_nothing_to_do_for_unset_settings():
    have = pools.pool_from_dump(dump_entry(), RULES)
    assert pools.compare(have, pools.desired_settings(params()), Diff()) == []


def test_autoscaler_owns_pg_num():
    have = pools.pool_from_dump(dump_entry(pg_autoscale_mode="on", pg_num_target=32), RULES)
    want = pools.desired_settings(params(pg_num=8))
    assert pools.compare(have, want, Diff()) == []
    # Turning the autoscaler off hands pg_num back.
    want = pools.desired_settings(params(pg_num=8, pg_autoscale_mode="off"))
    assert pools.compare(have, want, Diff()) == ["pg_autoscale_mode", "pg_num"]


def test_plan_update_order_and_commands():
    have = pools.pool_from_dump(dump_entry(application_metadata={"rbd": {}, "rgw": {}}), RULES)
    want = pools.desired_settings(
        params(
            pg_autoscale_mode="off",
            pg_num=16,
            size=3,
            min_size=2,
            application="cephfs",
            quota_max_bytes="1K",
            quota_max_objects=9,
        )
    )
    fields = pools.compare(have, want, Diff())
    commands = pools.plan_update("ic-vms", have, want, fields)
    assert commands == [
        ("osd pool set", {"pool": "ic-vms", "var": "pg_num", "val": "16"}),
        ("osd pool set", {"pool": "ic-vms", "var": "size", "val": "3", "yes_i_really_mean_it": True}),
        ("osd pool set", {"pool": "ic-vms", "var": "min_size", "val": "2"}),
        ("osd pool application disable", {"pool": "ic-vms", "app": "rbd", "yes_i_really_mean_it": True}),
        ("osd pool application disable", {"pool": "ic-vms", "app": "rgw", "yes_i_really_mean_it": True}),
        ("osd pool application enable", {"pool": "ic-vms", "app": "cephfs", "yes_i_really_mean_it": True}),
        ("osd pool set-quota", {"pool": "ic-vms", "field": "max_bytes", "val": "1024"}),
        ("osd pool set-quota", {"pool": "ic-vms", "field": "max_objects", "val": "9"}),
    ]


def test_size_change_resets_min_size_so_it_is_set_again():
    # Ceph resets min_size when size changes: a wanted min_size equal to the old one is set again after size.
    have = pools.pool_from_dump(dump_entry(size=2, min_size=1), RULES)
    want = pools.desired_settings(params(size=3, min_size=1))
    fields = pools.compare(have, want, Diff())
    assert fields == ["size"]
    commands = pools.plan_update("ic-vms", have, want, fields)
    assert [c[1]["var"] for c in commands] == ["size", "min_size"]


def test_plan_create():
    want = pools.desired_settings(params(pg_num=8, crush_rule="ssd", pg_autoscale_mode="warn"))
    assert pools.plan_create("p", want, "replicated", None) == (
        "osd pool create",
        {"pool": "p", "pool_type": "replicated", "pg_num": 8, "rule": "ssd", "autoscale_mode": "warn"},
    )
    assert pools.plan_create("e", pools.desired_settings(params()), "erasure", None) == (
        "osd pool create",
        {"pool": "e", "pool_type": "erasure", "erasure_code_profile": "default"},
    )


def test_usage_of():
    pool = {"quota_max_bytes": 1000, "quota_max_objects": 0}
    usage = pools.usage_of({"stored": 250, "objects": 3, "bytes_used": 750, "percent_used": 0.5}, pool)
    assert usage["quota_bytes_used_percent"] == 25.0
    assert usage["quota_objects_used_percent"] is None
    assert usage["percent_used"] == 50.0
    assert pools.usage_of(None, pool)["stats_available"] is False


# ---------------------------------------------------------------- CephPools over a fake cluster


class FakeClient:
    """Enough of CephClient for CephPools: an osd dump, the rules, and a log of mon commands."""

    def __init__(self, entries: list[dict], osds: int = 3) -> None:
        self.entries = {e["pool_name"]: e for e in entries}
        self.osds = osds
        self.commands: list[tuple[str, dict]] = []

    def osd_dump(self) -> dict:
        up = [{"osd": i, "up": 1, "in": 1} for i in range(self.osds)]
        return {"pools": copy.deepcopy(list(self.entries.values())), "osds": up}

    def crush_rules(self) -> dict:
        return dict(RULES)

    def df(self) -> dict:
        return {}

    def wait_for_latest_osdmap(self) -> None:
        pass

    def mon(self, prefix: str, **args: Any) -> Any:
        self.commands.append((prefix, args))
        entry = self.entries.get(args.get("pool", ""))
        if prefix == "osd pool create":
            self.entries[args["pool"]] = dump_entry(
                pool_name=args["pool"],
                pg_num=args.get("pg_num", 8),
                pg_num_target=args.get("pg_num", 8),
                application_metadata={},
            )
        elif prefix == "osd pool set":
            key = "pg_num_target" if args["var"] == "pg_num" else args["var"]
            entry[key] = args["val"] if key == "pg_autoscale_mode" else int(args["val"])
        elif prefix == "osd pool set-quota":
            entry["quota_" + args["field"]] = int(args["val"])
        elif prefix == "osd pool application enable":
            entry["application_metadata"][args["app"]] = {}
        elif prefix == "osd pool application disable":
            entry["application_metadata"].pop(args["app"])
        elif prefix == "osd pool delete":
            del self.entries[args["pool"]]
        return None


def test_check_mode_changes_nothing():
    client = FakeClient([dump_entry()])
    result = pools.CephPools(client).ensure(params(size=3, quota_max_objects=10), True)
    assert result["changed"] is True
    assert result["diff"] == {
        "before": {"size": 1, "quota_max_objects": 0},
        "after": {"size": 3, "quota_max_objects": 10},
    }
    assert result["pool"]["size"] == 3
    assert client.commands == []


def test_update_converges_in_one_run_then_nothing():
    client = FakeClient([dump_entry()])
    p = params(size=3, min_size=2, pg_num=16, application="rgw", quota_max_bytes="1M")
    result = pools.CephPools(client).ensure(p, False)
    assert result["changed"] is True
    assert result["pool"]["size"] == 3 and result["pool"]["pg_num"] == 16 and result["pool"]["application"] == "rgw"
    client.commands.clear()
    again = pools.CephPools(client).ensure(p, False)
    assert again["changed"] is False
    assert client.commands == []


def test_create_and_rerun():
    client = FakeClient([])
    p = params(name="new", pg_num=8, size=2, quota_max_objects=7)
    predicted = pools.CephPools(client).ensure(p, True)
    assert predicted["changed"] and predicted["diff"]["before"] == {} and client.commands == []
    created = pools.CephPools(client).ensure(p, False)
    assert created["changed"]
    assert [c[0] for c in client.commands] == ["osd pool create", "osd pool set", "osd pool set-quota"]
    assert pools.CephPools(client).ensure(p, False)["changed"] is False


def test_bad_input_fails_before_any_command():
    client = FakeClient([dump_entry()])
    with pytest.raises(ValidationError, match="size: 4 replicas"):
        pools.CephPools(client).ensure(params(size=4, quota_max_objects=5), False)
    assert client.commands == []


def test_delete_needs_confirmation():
    client = FakeClient([dump_entry()])
    with pytest.raises(ValidationError, match="confirm_delete: deleting pool ic-vms"):
        pools.CephPools(client).ensure(params(state="absent"), False)
    result = pools.CephPools(client).ensure(params(state="absent", confirm_delete=True), False)
    assert result["changed"] and result["diff"]["after"] == {}
    assert pools.CephPools(client).ensure(params(state="absent", confirm_delete=True), False)["changed"] is False


def test_info_unknown_pool():
    client = FakeClient([dump_entry()])
    with pytest.raises(ValidationError, match="name: no such pool: nope"):
        pools.CephPools(client).info(["nope"])
    assert pools.CephPools(client).info(None)["pools"][0]["name"] == "ic-vms"

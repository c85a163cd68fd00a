"""The cloud inventory's pure logic: tags, group names, hosts, leases (plugins/plugin_utils/inventory/cloud.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.plugin_utils.inventory.cloud import (
    MiB,
    build_inventory,
    parse_tags,
    role_of,
    safe_group,
    split_owner,
    tenancy_of,
)

GiB = 1024 * MiB


def vm(
    vmid: int, name: str | None, node: str = "pve1", status: str = "running", tags: str | None = None, **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "qemu/%d" % vmid,
        "type": "qemu",
        "vmid": vmid,
        "node": node,
        "status": status,
        "template": 0,
        "maxcpu": 2,
        "maxmem": 2048 * MiB,
        "maxdisk": 16 * GiB,
        "cpu": 0.25,
        "mem": 512 * MiB,
        "disk": 0,
        "uptime": 60,
    }
    if name is not None:
        item["name"] = name
    if tags is not None:
        item["tags"] = tags
    item.update(extra)
    return item


def node(name: str, status: str = "online") -> dict[str, Any]:
    return {
        "id": "node/" + name,
        "type": "node",
        "node": name,
        "status": status,
        "maxcpu": 16,
        "maxmem": 64 * GiB,
        "cpu": 0.1,
        "mem": 8 * GiB,
        "maxdisk": 512 * GiB,
        "disk": 4 * GiB,
        "uptime": 100,
    }


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, []),
        ("", []),
        ("ic-tenant-acme;ic-project-web", ["ic-tenant-acme", "ic-project-web"]),
        ("a,b c;;a", ["a", "b", "c"]),
        (["x", "y", "x"], ["x", "y"]),
    ],
)
def test_parse_tags(value: Any, expected: list[str]) -> None:
    assert parse_tags(value) == expected


def test_tenancy_and_roles_from_tags() -> None:
    tags = ["ic-tenant-acme", "ic-project-web-front", "ic-k3s-server", "ic-k3s-agent", "prod", "ic-tenant-other"]
    assert tenancy_of(tags) == ("acme", "web-front", ["k3s_server", "k3s_agent"])
    assert tenancy_of(["prod"]) == (None, None, [])


@pytest.mark.parametrize(
    "tag, role",
    [
        ("ic-k3s-server", "k3s_server"),
        ("ic-k3s-agent", "k3s_agent"),
        ("ic-db.primary", "db_primary"),
        ("k3s-server", None),
        ("ic-", None),
        ("ic-tenant-acme", None),
        ("ic-running", None),
        ("ic-hypervisors", None),
        ("ic-node-pve1", None),
        ("ic-all", None),
    ],
)
def test_role_rule(tag: str, role: str | None) -> None:
    assert role_of(tag) == role


def test_safe_group() -> None:
    assert safe_group("tenant_acme-corp.x") == "tenant_acme_corp_x"


@pytest.mark.parametrize(
    "owner, expected", [("web1/net0", ("web1", 0)), ("web1/net3", ("web1", 3)), ("web1", ("web1", 0)), (None, ("", 0))]
)
def test_split_owner(owner: Any, expected: tuple[str, int]) -> None:
    assert split_owner(owner) == expected


def test_groups_hosts_and_variables() -> None:
    resources = [
        node("pve1"),
        node("pve2"),
        vm(101, "web1", tags="ic-tenant-acme;ic-project-web;ic-k3s-server"),
        vm(102, "web2", node="pve2", status="stopped", tags="ic-tenant-acme;ic-project-web;ic-k3s-agent"),
        vm(103, "lonely", tags="ic-tenant-globex"),
        vm(104, "plain", status="unknown"),
        vm(900, "tmpl", template=1),
        {"id": "storage/pve1/local", "type": "storage", "node": "pve1", "storage": "local"},
    ]
    view = build_inventory(resources)
    assert sorted(view.hosts) == ["lonely", "plain", "pve1", "pve2", "web1", "web2"]
    groups = view.as_dict()["groups"]
    assert groups["hypervisors"] == ["pve1", "pve2"]
    assert groups["node_pve1"] == ["lonely", "plain", "web1"]
    assert groups["node_pve2"] == ["web2"]
    assert groups["running"] == ["lonely", "web1"]
    assert groups["stopped"] == ["web2"]
    assert groups["project_acme_web"] == ["web1", "web2"]
    assert groups["tenant_acme"] == []
    assert view.children["tenant_acme"] == {"project_acme_web"}
    assert groups["tenant_globex"] == ["lonely"]
    assert groups["k3s_server"] == ["web1"]
    assert groups["k3s_agent"] == ["web2"]
    # A guest's own variables are few; what its groups share is on the groups, once.
    assert view.hosts["web1"] == {"vmid": 101}
    assert view.hosts["plain"] == {"vmid": 104, "status": "unknown"}
    assert view.group_vars["node_pve1"] == {"node": "pve1"} and view.group_vars["node_pve2"] == {"node": "pve2"}
    assert view.group_vars["running"] == {"status": "running"} and view.group_vars["stopped"] == {"status": "stopped"}
    assert view.group_vars["tenant_acme"] == {"tenant": "acme"} and view.group_vars["tenant_globex"] == {
        "tenant": "globex"
    }
    assert view.group_vars["project_acme_web"] == {"project": "web"}
    assert "k3s_server" not in view.group_vars
    # Every variable, for compose / groups / keyed_groups and the detailed layout.
    web1 = view.details["web1"]
    assert web1["vmid"] == 101 and web1["node"] == "pve1" and web1["tenant"] == "acme" and web1["project"] == "web"
    assert web1["status"] == "running" and web1["vmtype"] == "qemu" and web1["vm_name"] == "web1"
    assert web1["cores"] == 2 and web1["memory_mb"] == 2048 and web1["disk_gb"] == 16.0
    assert web1["usage"] == {"cpu": 0.25, "memory_used_mb": 512, "disk_used_gb": 0.0, "uptime": 60}
    assert web1["vm_roles"] == ["k3s_server"] and web1["vm_tags"][0] == "ic-tenant-acme"
    assert web1["address"] is None and "ansible_host" not in web1
    assert view.details["lonely"]["project"] is None
    pve1 = view.hosts["pve1"]
    assert pve1["cores"] == 16 and pve1["memory_mb"] == 65536 and pve1["online"] is True
    assert pve1["usage"]["vms"] == 3 and pve1["usage"]["vms_running"] == 2 and pve1["usage"]["cores_allocated"] == 6


def test_leases_give_address_and_ansible_host() -> None:
    resources = [
        node("pve1"),
        vm(101, "web1", tags="ic-tenant-acme;ic-project-web"),
        vm(102, "web2", tags="ic-tenant-acme;ic-project-web"),
        vm(103, "web3", tags="ic-tenant-globex"),
    ]
    store = {
        "tenants": [
            {"name": "acme", "quota": {"cores": 10}, "usage": {"cores": 4}, "reserved": {}, "free": {}},
            {"name": "initech", "quota": {}, "usage": {}},
        ],
        "projects": [{"tenant": "acme", "name": "web"}, {"tenant": "acme", "name": "db"}],
        "leases": [
            # bound to VMID 101, NIC 1 and 0: the lowest NIC is ansible_host
            {
                "tenant": "acme",
                "project": "web",
                "owner": "web1/net1",
                "vm": "web1",
                "nic": 1,
                "vmid": 101,
                "address": "10.0.0.9",
                "prefix_length": 24,
                "gateway": "10.0.0.1",
                "network": "front",
            },
            {
                "tenant": "acme",
                "project": "web",
                "owner": "web1/net0",
                "vm": "web1",
                "nic": 0,
                "vmid": 101,
                "address": "10.0.0.5",
                "prefix_length": 24,
                "gateway": "10.0.0.1",
                "network": "front",
            },
            # not bound yet: found by name within the tenant and project
            {
                "tenant": "acme",
                "project": "web",
                "owner": "web2/net0",
                "vm": "web2",
                "nic": 0,
                "vmid": None,
                "address": "10.0.0.6",
            },
            # a lease of another tenant's VM named web3 does not belong to globex's web3
            {
                "tenant": "acme",
                "project": "web",
                "owner": "web3/net0",
                "vm": "web3",
                "nic": 0,
                "vmid": None,
                "address": "10.0.0.7",
            },
        ],
    }
    view = build_inventory(resources, store)
    assert view.hosts["web1"] == {"vmid": 101, "ansible_host": "10.0.0.5"}
    assert view.details["web1"]["address"] == "10.0.0.5" and view.details["web1"]["ansible_host"] == "10.0.0.5"
    assert [a["address"] for a in view.details["web1"]["addresses"]] == ["10.0.0.5", "10.0.0.9"]
    assert view.hosts["web2"]["ansible_host"] == "10.0.0.6"
    assert view.hosts["web3"] == {"vmid": 103} and view.details["web3"]["address"] is None
    assert view.details["web1"]["floating_ip"] is None
    groups = view.as_dict()["groups"]
    assert groups["tenant_initech"] == [] and groups["project_acme_db"] == []
    assert view.group_vars["tenant_acme"]["tenant"] == "acme"
    assert view.group_vars["tenant_acme"]["tenant_quota"] == {"cores": 10}
    assert view.group_vars["tenant_acme"]["tenant_usage"] == {"cores": 4}
    assert view.group_vars["project_acme_db"] == {"project": "db"}


def test_detailed_layout_sets_every_variable_on_the_host() -> None:
    resources = [node("pve1"), vm(101, "web1", tags="ic-tenant-acme;ic-project-web;ic-k3s-server", pool="p1")]
    detailed = build_inventory(resources, detailed=True)
    web1 = detailed.hosts["web1"]
    assert web1 == detailed.details["web1"]
    assert web1["tenant"] == "acme" and web1["node"] == "pve1" and web1["pool"] == "p1"
    assert web1["memory_mb"] == 2048 and web1["vm_roles"] == ["k3s_server"]
    # the groups and their variables are the same in both layouts
    lean = build_inventory(resources)
    assert detailed.as_dict()["groups"] == lean.as_dict()["groups"]
    assert detailed.group_vars == lean.group_vars


def test_without_details_the_guests_have_none() -> None:
    view = build_inventory([node("pve1"), vm(101, "web1", tags="ic-tenant-acme")], with_details=False)
    assert view.hosts["web1"] == {"vmid": 101}
    assert "web1" not in view.details and "pve1" in view.details


def test_duplicate_and_missing_names() -> None:
    resources = [node("pve1"), vm(105, "twin"), vm(103, "twin"), vm(104, None), vm(106, "pve1")]
    view = build_inventory(resources)
    assert sorted(view.hosts) == ["pve1", "pve1-106", "twin", "twin-105", "vm-104"]
    assert view.hosts["twin"]["vmid"] == 103
    assert len(view.warnings) == 2


def test_project_without_tenant_is_warned() -> None:
    view = build_inventory([vm(101, "x", tags="ic-project-web")])
    # no group carries its project: the host does
    assert view.hosts["x"]["project"] == "web" and "project_" not in "".join(view.groups)
    assert "no ic-tenant- tag" in view.warnings[0]


def test_offline_node_guest_in_no_state_group() -> None:
    view = build_inventory([node("pve1", status="offline"), vm(101, "a", status="unknown")])
    assert view.groups["running"] == set() and view.groups["stopped"] == set()
    assert view.hosts["pve1"]["online"] is False


def test_a_floating_ip_is_ansible_host() -> None:
    resources = [node("pve1"), vm(101, "web1", tags="ic-tenant-acme;ic-project-web")]
    lease = {"tenant": "acme", "project": "web", "owner": "web1/net0", "vm": "web1", "nic": 0, "vmid": 101}
    store = {"leases": [dict(lease, address="10.0.0.5", network="front", floating_ip="203.0.113.20")]}
    view = build_inventory(resources, store)
    assert view.hosts["web1"] == {"vmid": 101, "ansible_host": "203.0.113.20", "floating_ip": "203.0.113.20"}
    details = view.details["web1"]
    assert details["ansible_host"] == "203.0.113.20" and details["address"] == "10.0.0.5"
    assert details["floating_ip"] == "203.0.113.20" and details["addresses"][0]["floating_ip"] == "203.0.113.20"
    assert build_inventory(resources, store, detailed=True).hosts["web1"]["ansible_host"] == "203.0.113.20"


def lease(vm_name: str, vmid: int | None, address: str, project: str = "web", **extra: Any) -> dict[str, Any]:
    row = {"tenant": "acme", "project": project, "network": "front", "owner": vm_name + "/net0", "vm": vm_name}
    row.update(nic=0, vmid=vmid, address=address)
    row.update(extra)
    return row


def test_a_lease_with_a_login_user_gives_ansible_user_and_without_none() -> None:
    resources = [
        node("pve1"),
        vm(101, "web1", tags="ic-tenant-acme;ic-project-web"),
        vm(102, "web2", tags="ic-tenant-acme;ic-project-web"),
        vm(103, "solo", tags="ic-tenant-acme"),
    ]
    store = {
        "leases": [
            lease("web1", 101, "10.0.0.5", login_user="debian"),
            lease("web2", 102, "10.0.0.6", login_user=None),
            lease("solo", 103, "10.0.0.7", project="ops", login_user="alice"),
        ]
    }
    view = build_inventory(resources, store)
    # web2's login user is not known: the project group carries none, web1 has its own
    assert view.hosts["web1"] == {"vmid": 101, "ansible_host": "10.0.0.5", "ansible_user": "debian"}
    assert view.hosts["web2"] == {"vmid": 102, "ansible_host": "10.0.0.6"}
    assert "ansible_user" not in view.group_vars["project_acme_web"]
    # a guest in no project group keeps its own
    assert view.hosts["solo"]["ansible_user"] == "alice"
    assert view.details["web1"]["ansible_user"] == "debian" and "ansible_user" not in view.details["web2"]
    assert view.details["web1"]["addresses"][0]["login_user"] == "debian"
    detailed = build_inventory(resources, store, detailed=True)
    assert detailed.hosts["web1"]["ansible_user"] == "debian" and "ansible_user" not in detailed.hosts["web2"]
    assert "ansible_user" not in detailed.group_vars["project_acme_web"]
    # without a store no guest has one
    assert all("ansible_user" not in v for v in build_inventory(resources).hosts.values())


def test_one_login_user_for_a_whole_project_is_a_variable_of_its_group() -> None:
    resources = [node("pve1")] + [vm(100 + i, "web%d" % i, tags="ic-tenant-acme;ic-project-web") for i in range(3)]
    resources.append(vm(110, "db1", tags="ic-tenant-acme;ic-project-db"))
    resources.append(vm(111, "db2", tags="ic-tenant-acme;ic-project-db"))
    leases = [lease("web%d" % i, 100 + i, "10.0.0.%d" % (10 + i), login_user="debian") for i in range(3)]
    leases.append(lease("db1", 110, "10.0.1.5", project="db", login_user="debian"))
    leases.append(lease("db2", 111, "10.0.1.6", project="db", login_user="postgres"))
    view = build_inventory(resources, {"leases": leases})
    assert view.group_vars["project_acme_web"] == {"project": "web", "ansible_user": "debian"}
    assert all(view.hosts["web%d" % i] == {"vmid": 100 + i, "ansible_host": "10.0.0.%d" % (10 + i)} for i in range(3))
    # two login users in a project: each guest carries its own
    assert view.group_vars["project_acme_db"] == {"project": "db"}
    assert view.hosts["db1"]["ansible_user"] == "debian" and view.hosts["db2"]["ansible_user"] == "postgres"
    # the tenant group never carries one (its projects may differ)
    assert "ansible_user" not in view.group_vars["tenant_acme"]
    # every guest sees its own, whichever carries it
    assert all(view.details["web%d" % i]["ansible_user"] == "debian" for i in range(3))
    # a guest of the project without a lease (so without login user) keeps the group from carrying one
    resources.append(vm(105, "web5", tags="ic-tenant-acme;ic-project-web"))
    view = build_inventory(resources, {"leases": leases})
    assert view.group_vars["project_acme_web"] == {"project": "web"}
    assert view.hosts["web0"]["ansible_user"] == "debian" and "ansible_user" not in view.hosts["web5"]


def test_the_lowest_nic_with_a_login_user_gives_it() -> None:
    resources = [vm(101, "web1", tags="ic-tenant-acme;ic-project-web")]
    leases = [
        lease("web1", 101, "10.0.0.9", owner="web1/net1", nic=1, login_user="second"),
        lease("web1", 101, "10.0.0.5", login_user=None),
    ]
    view = build_inventory(resources, {"leases": leases}, with_details=False)
    assert view.group_vars["project_acme_web"]["ansible_user"] == "second"
    leases[1]["login_user"] = "first"
    assert build_inventory(resources, {"leases": leases}).group_vars["project_acme_web"]["ansible_user"] == "first"

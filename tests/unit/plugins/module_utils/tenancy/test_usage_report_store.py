"""The usage report and the inventory's store snapshot read from a real store, on both backends."""

from __future__ import annotations

from tenancy_helpers import cluster_of, lab_cluster

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage_report import report_from_store
from ansible_collections.ironcloud.stack.plugins.plugin_utils.inventory.sources import read_store, snapshot

NOW = 1_800_000_000.0
H = 3600.0
CLUSTER = cluster_of(lab_cluster())


def seed(store) -> None:
    ensure_tenant(store, {"name": "acme", "quota": {"cores": 8, "vms": 4}, "projects": ["web", "db"]}, False, NOW)
    ensure_network(store, {"tenant": "acme", "project": "web", "name": "front", "cidr": "10.20.0.0/24"}, False, NOW)
    for rid, vmid, cores, project in (("r1", 150, 2, "web"), ("r2", 151, 4, "db")):
        res.ensure_reservation(
            store,
            {
                "tenant": "acme",
                "project": project,
                "id": rid,
                "cores": cores,
                "memory_mb": 2048,
                "disk_gb": 10,
                "state": "present",
            },
            CLUSTER,
            False,
            NOW,
        )
        res.ensure_reservation(store, {"id": rid, "vmid": vmid, "state": "committed"}, CLUSTER, False, NOW)
    res.ensure_reservation(store, {"vmid": 150, "state": "absent"}, CLUSTER, False, NOW + 2 * H)
    ensure_address(
        store,
        {
            "tenant": "acme",
            "project": "web",
            "network": "front",
            "owner": "web1/net0",
            "vmid": 150,
            "login_user": "debian",
        },
        False,
        NOW,
    )
    ensure_address(store, {"tenant": "acme", "project": "web", "network": "front", "owner": "web2/net1"}, False, NOW)


def test_report_from_store(store) -> None:
    seed(store)
    out = report_from_store(store, NOW + 4 * H)
    rep = out["report"]
    assert out == {"changed": False, "report": rep}
    assert rep["period"]["hours"] == 4.0
    acme = rep["tenants"][0]
    assert [(p["name"], p["vm_hours"], p["core_hours"]) for p in acme["projects"]] == [
        ("db", 4.0, 16.0),
        ("web", 2.0, 4.0),
    ]
    assert acme["quota"]["cores"] == 8 and acme["used"]["cores"] == 4 and acme["quota_used_pct"]["cores"] == 50.0
    one = report_from_store(store, NOW + 4 * H, start=NOW + H, end="2027-01-15T11:00:00Z", project="web")
    assert one["report"]["period"]["hours"] == 2.0  # 09:00 to 11:00; web's VM went at 10:00
    assert [(p["name"], p["vm_hours"]) for p in one["report"]["tenants"][0]["projects"]] == [("web", 1.0)]


def test_inventory_snapshot(store, store_url) -> None:
    seed(store)
    snap = store.run(lambda tx: snapshot(tx, NOW), write=False)
    assert [t["name"] for t in snap["tenants"]] == ["acme"]
    assert snap["tenants"][0]["quota"]["cores"] == 8 and snap["tenants"][0]["usage"]["cores"] == 4
    assert snap["projects"] == [{"tenant": "acme", "name": "db"}, {"tenant": "acme", "name": "web"}]
    leases = {lease["owner"]: lease for lease in snap["leases"]}
    assert leases["web1/net0"]["vmid"] == 150 and leases["web1/net0"]["vm"] == "web1"
    assert leases["web1/net0"]["prefix_length"] == 24 and leases["web1/net0"]["gateway"] == "10.20.0.1"
    assert leases["web2/net1"]["vmid"] is None and leases["web2/net1"]["nic"] == 1
    # the VM's login user, the inventory's ansible_user; null when not known
    assert leases["web1/net0"]["login_user"] == "debian" and leases["web2/net1"]["login_user"] is None
    assert read_store(store_url, clock=lambda: NOW) == snap


def test_read_store_without_store(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("IRONCLOUD_STATE_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert read_store(None) is None
    assert not (tmp_path / "ironcloud").exists(), "the inventory never creates a store"

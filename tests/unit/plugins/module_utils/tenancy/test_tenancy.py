"""Tenants, networks, addresses, reservations, expiry, quota accounting and reconcile, on both backends."""

from __future__ import annotations

import pytest
from tenancy_helpers import cluster_of, lab_cluster, vm

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    Conflict,
    NoPlacement,
    NotFound,
    QuotaExceeded,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.nodes import ensure_node
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reconcile import reconcile
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage import report

NOW = 1_800_000_000.0
CLUSTER = cluster_of(lab_cluster())


def tenant(store, name="acme", quota=None, projects=("web", "db"), check=False, **kw):
    params = {"name": name, "quota": quota, "projects": list(projects) if projects is not None else None}
    params.update(kw)
    return ensure_tenant(store, params, check, NOW)


def network(store, name="front", tenant_="acme", project="web", check=False, **kw):
    params = {"tenant": tenant_, "project": project, "name": name}
    params.update(kw)
    return ensure_network(store, params, check, NOW)


def address(store, owner, network_="front", check=False, now=NOW, **kw):
    params = {"tenant": "acme", "project": "web", "network": network_, "owner": owner}
    params.update(kw)
    return ensure_address(store, params, check, now)


def reserve(store, rid=None, cores=2, memory_mb=2048, now=NOW, cluster=CLUSTER, check=False, **kw):
    params = {
        "tenant": "acme",
        "project": "web",
        "id": rid,
        "cores": cores,
        "memory_mb": memory_mb,
        "disk_gb": 10,
        "state": "present",
    }
    params.update(kw)
    return res.ensure_reservation(store, params, cluster, check, now)


def usage_of(store, name="acme", now=NOW):
    return store.run(lambda tx: report(tx, now, name), write=False)[0]


# ------------------------------------------------------------------ tenants


def test_tenant_check_apply_check_apply(store):
    quota = {"cores": 50, "memory_mb": 102400}
    first = tenant(store, quota=quota, check=True)
    assert first["changed"] and first["diff"]["after"]["quota.cores"] == 50
    assert store.run(lambda tx: tx.value("SELECT COUNT(*) FROM tenants"), write=False) == 0
    applied = tenant(store, quota=quota)
    assert applied["changed"]
    assert applied["tenant"]["quota"]["cores"] == 50 and applied["tenant"]["quota"]["vms"] is None
    assert applied["tenant"]["projects"] == ["db", "web"]
    assert not tenant(store, quota=quota, check=True)["changed"]
    assert not tenant(store, quota=quota)["changed"]
    changed = tenant(store, quota={"cores": 60})
    assert changed["changed"] and changed["diff"] == {"before": {"quota.cores": 50}, "after": {"quota.cores": 60}}
    assert changed["tenant"]["quota"]["memory_mb"] == 102400  # keys not given are kept


@pytest.mark.parametrize(
    "quota, message",
    [
        ({"cores": -1}, "quota.cores: -1 is out of range"),
        ({"cores": 1.5}, "quota.cores: 1.5 is not an integer"),
        ({"cores": "ten"}, "quota.cores: 'ten' is not an integer"),
        ({"cpus": 3}, "quota: unknown key"),
    ],
)
def test_bad_quotas_are_refused_and_nothing_changes(store, quota, message):
    with pytest.raises(ValidationError, match=message):
        tenant(store, quota=quota)
    assert store.run(lambda tx: tx.value("SELECT COUNT(*) FROM tenants"), write=False) == 0


@pytest.mark.parametrize("name", ["Acme", "1acme", "ac_me", "acme-", "a" * 32, "", "ac me", "acme;drop"])
def test_bad_names_are_refused(store, name):
    with pytest.raises(ValidationError, match="name: .* is not a valid name"):
        tenant(store, name=name)


def test_tenant_absent_refuses_while_it_owns_something(store):
    tenant(store)
    network(store)
    with pytest.raises(Conflict, match="tenant acme still owns 1 network"):
        tenant(store, state="absent")
    network(store, state="absent")
    assert tenant(store, state="absent", check=True)["changed"]
    assert tenant(store, state="absent")["changed"]
    assert not tenant(store, state="absent")["changed"]


def test_dropping_a_project_that_owns_a_network_is_refused(store):
    tenant(store)
    network(store)
    with pytest.raises(Conflict, match="projects: project web of tenant acme still owns 1 network"):
        tenant(store, projects=["db"])
    assert tenant(store, projects=["web"])["changed"]


# ------------------------------------------------------------------ networks


def test_network_allocation_and_idempotency(store):
    tenant(store)
    assert network(store, check=True)["changed"]
    net = network(store)["network"]
    assert net == {
        "tenant": "acme",
        "project": "web",
        "name": "front",
        "vni": 1000,
        "cidr": "10.100.0.0/24",
        "gateway": "10.100.0.1",
        "prefix_length": 24,
        "tag": 1,
        "mtu": 1450,
    }
    again = network(store)
    assert not again["changed"] and again["network"] == net
    second = network(store, name="back", prefix_length=26)["network"]
    assert (second["cidr"], second["vni"], second["tag"]) == ("10.100.1.0/26", 1001, 2)
    # another tenant may reuse the same addresses, never the VNI or tag
    tenant(store, name="globex", projects=["web"])
    other = network(store, tenant_="globex")["network"]
    assert other["cidr"] == "10.100.0.0/24" and other["vni"] == 1002 and other["tag"] == 3


def test_network_bad_input(store):
    tenant(store)
    network(store, cidr="10.0.0.0/24")
    with pytest.raises(Conflict, match="cidr: 10.0.0.128/25 overlaps 10.0.0.0/24"):
        network(store, name="other", cidr="10.0.0.128/25")
    with pytest.raises(ValidationError, match="cidr: '10.0.0.0/33' is not a valid CIDR"):
        network(store, name="other", cidr="10.0.0.0/33")
    with pytest.raises(ValidationError, match="vni: 16777216 is out of range"):
        network(store, name="other", vni=16777216)
    with pytest.raises(ValidationError, match="vni_range: 0 is out of range"):
        network(store, name="other", vni_range="0-10")
    with pytest.raises(ValidationError, match="tag: 4095 is out of range"):
        network(store, name="other", tag=4095)
    with pytest.raises(NotFound, match="tenant: 'nobody' does not exist"):
        network(store, tenant_="nobody")
    with pytest.raises(NotFound, match="project: 'nope' is not a project of tenant acme"):
        network(store, project="nope")
    with pytest.raises(ValidationError, match="name: 'Bad_Name' is not a valid name"):
        network(store, name="Bad_Name")
    with pytest.raises(Conflict, match="cidr: network acme/web/front exists with cidr 10.0.0.0/24"):
        network(store, cidr="10.0.1.0/24")
    with pytest.raises(Conflict, match="vni: 1000 is taken"):
        network(store, name="other", vni=1000)
    count = store.run(lambda tx: tx.value("SELECT COUNT(*) FROM networks"), write=False)
    assert count == 1


def test_network_mtu_follows_the_underlay_and_can_change(store):
    tenant(store)
    assert network(store, underlay_mtu=9000)["network"]["mtu"] == 8950
    changed = network(store, mtu=1400)
    assert changed["changed"] and changed["diff"] == {"before": {"mtu": 8950}, "after": {"mtu": 1400}}


def test_network_quota(store):
    tenant(store, quota={"networks": 1})
    network(store)
    with pytest.raises(QuotaExceeded, match="quota exceeded for tenant acme: networks 2 > 1"):
        network(store, name="two")


def test_network_absent_only_when_empty(store):
    tenant(store)
    network(store)
    address(store, "web1/net0")
    with pytest.raises(Conflict, match="still has 1 address lease"):
        network(store, state="absent")


# ------------------------------------------------------------------ addresses


def test_same_owner_same_address_and_reserved_addresses_skipped(store):
    tenant(store)
    network(store, cidr="10.0.0.0/29")
    assert address(store, "a/net0", check=True)["changed"]
    first = address(store, "a/net0")
    assert (first["address"], first["prefix_length"], first["gateway"]) == ("10.0.0.2", 29, "10.0.0.1")
    again = address(store, "a/net0")
    assert not again["changed"] and again["address"] == "10.0.0.2"
    got = [address(store, "h%d/net0" % i)["address"] for i in range(4)]
    assert got == ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(Conflict, match="has no free address left"):
        address(store, "full/net0")
    address(store, "h1/net0", state="absent")
    assert address(store, "late/net0")["address"] == "10.0.0.4"  # the hole, once the end is reached


def test_requested_address(store):
    tenant(store)
    network(store, cidr="10.0.0.0/24")
    assert address(store, "a/net0", address="10.0.0.50")["address"] == "10.0.0.50"
    with pytest.raises(Conflict, match="address: 10.0.0.50 is already leased to a/net0"):
        address(store, "b/net0", address="10.0.0.50")
    with pytest.raises(ValidationError, match="gateway"):
        address(store, "b/net0", address="10.0.0.1")
    with pytest.raises(Conflict, match="a/net0 already holds 10.0.0.50"):
        address(store, "a/net0", address="10.0.0.51")
    assert address(store, "c/net0")["address"] == "10.0.0.51"  # after the highest in use


def test_address_binds_vmid_and_quota(store):
    tenant(store, quota={"addresses": 1})
    network(store)
    assert address(store, "a/net0")["lease"]["vmid"] is None
    bound = address(store, "a/net0", vmid=120)
    assert bound["changed"] and bound["lease"]["vmid"] == 120
    with pytest.raises(QuotaExceeded, match="addresses 2 > 1"):
        address(store, "b/net0")
    released = address(store, "a/net0", state="absent")
    assert released["changed"] and released["address"] == "10.100.0.2"
    assert not address(store, "a/net0", state="absent")["changed"]


def lease_row(store, owner="web1/net0"):
    return store.run(
        lambda tx: tx.one("SELECT vmid, login_user FROM leases WHERE owner = ?", (owner,)),
        write=False,
    )


def test_lease_records_the_login_user_check_apply_rerun(store):
    tenant(store)
    network(store)
    would = address(store, "web1/net0", check=True, login_user="debian")
    assert would["changed"] and would["lease"]["login_user"] == "debian"
    assert would["diff"] == {
        "before": {"address": None, "login_user": None},
        "after": {"address": "10.100.0.2", "login_user": "debian"},
    }
    assert store.run(lambda tx: tx.value("SELECT COUNT(*) FROM leases"), write=False) == 0
    made = address(store, "web1/net0", login_user="debian")
    assert made["changed"] and made["lease"]["login_user"] == "debian"
    assert lease_row(store) == {"vmid": None, "login_user": "debian"}
    again = address(store, "web1/net0", login_user="debian")
    assert not again["changed"] and again["diff"] == {"before": {}, "after": {}}
    assert again["lease"]["login_user"] == "debian" and "already leased to" in again["msg"]
    # not given: the lease keeps the login user it has (cloud_vm without ciuser, cloud_address without it)
    kept = address(store, "web1/net0", vmid=120)
    assert kept["changed"] and kept["lease"]["login_user"] == "debian"
    assert lease_row(store) == {"vmid": 120, "login_user": "debian"}
    assert not address(store, "web1/net0", login_user="")["changed"]


def test_lease_login_user_is_updated_when_it_differs(store):
    tenant(store)
    network(store)
    plain = address(store, "web1/net0", vmid=120)
    assert plain["lease"]["login_user"] is None and "login_user" not in plain["diff"]["after"]
    would = address(store, "web1/net0", login_user="alice", check=True)
    assert would["changed"] and would["diff"] == {"before": {"login_user": None}, "after": {"login_user": "alice"}}
    assert "would be given login user alice" in would["msg"]
    assert lease_row(store)["login_user"] is None  # check mode wrote nothing
    set_ = address(store, "web1/net0", login_user="alice")
    assert set_["changed"] and lease_row(store) == {"vmid": 120, "login_user": "alice"}
    moved = address(store, "web1/net0", login_user="bob")
    assert moved["changed"] and moved["diff"] == {"before": {"login_user": "alice"}, "after": {"login_user": "bob"}}
    assert moved["address"] == plain["address"] and lease_row(store)["login_user"] == "bob"
    assert not address(store, "web1/net0", login_user="bob")["changed"]


@pytest.mark.parametrize("user", ["Debian", "1admin", "de bian", "a" * 33, "root:x", "-rf", "user$", 7])
def test_bad_login_user_is_refused_and_nothing_changes(store, user):
    tenant(store)
    network(store)
    with pytest.raises(ValidationError, match=r"login_user: .* is not a valid user name: a Linux user name"):
        address(store, "web1/net0", login_user=user)
    assert store.run(lambda tx: tx.value("SELECT COUNT(*) FROM leases"), write=False) == 0


@pytest.mark.parametrize("user", ["debian", "_apt", "a", "ubuntu-admin", "x" * 32, "cloud_user1"])
def test_good_login_users(store, user):
    tenant(store)
    network(store)
    assert address(store, "web1/net0", login_user=user)["lease"]["login_user"] == user


def test_lease_of_a_reserved_vm_consumes_the_reservations_address(store):
    tenant(store, quota={"addresses": 1})
    network(store)
    reserve(store, "r1", name="web1")  # holds one address (the default) for web1
    assert usage_of(store)["reserved"]["addresses"] == 1
    lease = address(store, "web1/net0")  # takes the reserved address: not a second one
    assert lease["changed"] and lease["address"] == "10.100.0.2"
    u = usage_of(store)
    assert (u["used"]["addresses"], u["reserved"]["addresses"], u["free"]["addresses"]) == (1, 0, 0)
    with pytest.raises(QuotaExceeded, match="addresses 2 > 1"):
        address(store, "web2/net0")  # another VM's lease is a new address
    with pytest.raises(QuotaExceeded, match="addresses 2 > 1"):
        reserve(store, "r2", name="web2")
    assert not reserve(store, "r1", name="web1")["changed"]  # its own address is not counted against it
    res.ensure_reservation(store, {"id": "r1", "vmid": 150, "state": "committed"}, CLUSTER, False, NOW)
    u = usage_of(store)
    assert (u["used"]["addresses"], u["reserved"]["addresses"]) == (1, 0)


def test_reconcile_releases_unbound_leases_of_vms_that_never_came(store):
    tenant(store)
    network(store)
    old = NOW - 2 * 3600
    reserve(store, "killed", name="web9", ttl=60, now=old)  # a run killed between lease and clone
    address(store, "web9/net0", now=old)
    reserve(store, "running", name="web8")  # a run in progress: its reservation is in flight
    address(store, "web8/net0", now=old)
    address(store, "fresh/net0", now=NOW - 10)  # seconds old: within the grace
    address(store, "vip-front", now=old)  # not a VM's NIC
    address(store, "web1/net0", now=old)  # its VM exists
    resources = lab_cluster(vm(150, "pve2", "web1", tags="ic-tenant-acme;ic-project-web"))
    checked = reconcile(store, resources, lambda node, vmid: {}, True, NOW)
    assert [x["owner"] for x in checked["drift"]["leases_without_vm"]] == ["web9/net0"]
    applied = reconcile(store, resources, lambda node, vmid: {}, False, NOW)
    assert applied["drift"]["leases_without_vm"] == checked["drift"]["leases_without_vm"]
    owners = store.run(lambda tx: [r["owner"] for r in tx.all("SELECT owner FROM leases ORDER BY owner")], write=False)
    assert owners == ["fresh/net0", "vip-front", "web1/net0", "web8/net0"]
    assert not reconcile(store, resources, lambda node, vmid: {}, False, NOW)["drift"]["leases_without_vm"]


# ------------------------------------------------------------------ reservations and quota accounting


def test_reserve_commit_release_and_accounting(store):
    tenant(store, quota={"cores": 10, "memory_mb": 8192, "vms": 5})
    checked = reserve(store, "r1", check=True)
    assert checked["changed"] and checked["reservation"]["node"] == "pve1"
    assert usage_of(store)["reserved"]["cores"] == 0
    r = reserve(store, "r1")["reservation"]
    assert (r["id"], r["node"], r["state"], r["expires"]) == ("r1", "pve1", "reserved", "2027-01-15T08:15:00Z")
    assert not reserve(store, "r1")["changed"]
    u = usage_of(store)
    assert (u["used"]["cores"], u["reserved"]["cores"], u["free"]["cores"]) == (0, 2, 8)
    committed = res.ensure_reservation(store, {"id": "r1", "vmid": 150, "state": "committed"}, CLUSTER, False, NOW)
    assert committed["changed"] and committed["reservation"]["vmid"] == 150
    again = res.ensure_reservation(store, {"id": "r1", "vmid": 150, "state": "committed"}, CLUSTER, False, NOW)
    assert not again["changed"]
    u = usage_of(store)
    assert (u["used"]["cores"], u["used"]["vms"], u["reserved"]["cores"]) == (2, 1, 0)
    with pytest.raises(Conflict, match="committed to VM 150, not 151"):
        res.ensure_reservation(store, {"id": "r1", "vmid": 151, "state": "committed"}, CLUSTER, False, NOW)
    released = res.ensure_reservation(store, {"vmid": 150, "state": "absent"}, CLUSTER, False, NOW + 3600)
    assert released["changed"]
    assert usage_of(store)["used"]["cores"] == 0
    events = store.run(
        lambda tx: tx.all("SELECT event, vmid, cores, at FROM usage_events WHERE kind = 'vm' ORDER BY id"), write=False
    )
    assert [(e["event"], e["vmid"], e["cores"], e["at"] - NOW) for e in events] == [
        ("committed", 150, 2, 0),
        ("released", 150, 2, 3600),
    ]


def test_quota_error_names_the_resource(store):
    tenant(store, quota={"cores": 5})
    reserve(store, cores=4)
    with pytest.raises(QuotaExceeded, match="quota exceeded for tenant acme: cores 6 > 5") as e:
        reserve(store, cores=2)
    assert e.value.details["resource"] == "cores"
    tenant(store, quota={"cores": 100, "memory_mb": 3000})
    with pytest.raises(QuotaExceeded, match="memory_mb 4096 > 3000"):
        reserve(store)


def test_expired_reservations_count_nowhere_and_are_replaced(store):
    tenant(store, quota={"vms": 1})
    reserve(store, "r1", ttl=60)
    with pytest.raises(QuotaExceeded, match="vms 2 > 1"):
        reserve(store, "r2", now=NOW + 59)
    assert reserve(store, "r2", now=NOW + 61)["changed"]
    assert usage_of(store, now=NOW + 61)["reserved"]["vms"] == 1
    # the expired r1 asked for again is a fresh reservation (quota permitting)
    with pytest.raises(QuotaExceeded):
        reserve(store, "r1", now=NOW + 61)


def test_commit_of_an_expired_reservation_rechecks_the_quota(store):
    tenant(store, quota={"vms": 1})
    reserve(store, "r1", ttl=60)
    reserve(store, "r2", now=NOW + 61)
    with pytest.raises(QuotaExceeded):
        res.ensure_reservation(store, {"id": "r1", "vmid": 150, "state": "committed"}, CLUSTER, False, NOW + 62)


def test_placement_spreads_and_sees_reservations_in_flight(store):
    tenant(store)
    nodes = [reserve(store, "r%d" % i, memory_mb=8192)["reservation"]["node"] for i in range(4)]
    assert nodes == ["pve1", "pve2", "pve1", "pve2"]


def test_placement_refusal_is_clear(store):
    tenant(store)
    with pytest.raises(NoPlacement, match="no node can take 2 cores and 99999 MiB"):
        reserve(store, memory_mb=99999)
    ensure_node(store, {"name": "pve1", "state": "maintenance"}, False, NOW)
    assert reserve(store, "m")["reservation"]["node"] == "pve2"


def test_reserve_unknown_tenant_and_bad_sizes(store):
    with pytest.raises(NotFound, match="tenant: 'acme' does not exist"):
        reserve(store)
    tenant(store)
    with pytest.raises(ValidationError, match="cores: 0 is out of range"):
        reserve(store, cores=0)
    with pytest.raises(ValidationError, match="id: 'bad id' is not a valid reservation id"):
        reserve(store, rid="bad id")


# ------------------------------------------------------------------ reconcile


def test_reconcile_finds_and_repairs_drift(store):
    tenant(store)
    network(store, cidr="10.0.0.0/24")
    # a run killed after the clone: the reservation in flight, the VM exists, no lease
    reserve(store, "flow", name="web1")
    # an expired reservation, a lease of a VM that is gone, a committed reservation whose VM is gone
    reserve(store, "old", ttl=1, now=NOW - 100)
    address(store, "gone/net0", vmid=404)
    reserve(store, "dead")
    res.ensure_reservation(store, {"id": "dead", "vmid": 405, "state": "committed"}, CLUSTER, False, NOW)
    resources = lab_cluster(
        vm(150, "pve2", "web1", tags="ic-tenant-acme;ic-project-web"),
        vm(151, "pve1", "web2", cores=4, tags="ic-tenant-acme;ic-project-web"),
        vm(152, "pve1", "other", tags="something-else"),
    )
    configs = {150: {"ipconfig0": "ip=10.0.0.9/24,gw=10.0.0.1", "ciuser": "debian"}, 151: {"ipconfig0": "ip=dhcp"}}

    def config_of(node_name, vmid):
        return configs[vmid]

    checked = reconcile(store, resources, config_of, True, NOW)
    assert checked["changed"]
    d = checked["drift"]
    assert [x["id"] for x in d["expired_reservations"]] == ["old"]
    assert [(x["vmid"], x["reservation"]) for x in d["vms_without_reservation"]] == [(150, "flow"), (151, "vm-151")]
    assert [x["vmid"] for x in d["reservations_without_vm"]] == [405]
    assert [x["owner"] for x in d["leases_without_vm"]] == ["gone/net0"]
    assert [(x["vmid"], x["address"]) for x in d["vms_without_lease"]] == [(150, "10.0.0.9")]
    assert [x["vmid"] for x in d["unrepairable"]] == [151]
    applied = reconcile(store, resources, config_of, False, NOW)
    assert applied["drift"] == checked["drift"]
    assert lease_row(store) == {"vmid": 150, "login_user": "debian"}  # the adopted lease has the VM's ciuser
    again = reconcile(store, resources, config_of, False, NOW)
    assert not again["changed"], again["drift"]
    u = usage_of(store)
    assert (u["used"]["vms"], u["used"]["cores"], u["reserved"]["vms"], u["used"]["addresses"]) == (2, 6, 0, 1)


def test_committed_vm_not_yet_in_the_cluster_answer_counts_in_flight(store):
    tenant(store)
    reserve(store, "a", memory_mb=30000)  # pve1
    res.ensure_reservation(store, {"id": "a", "vmid": 150, "state": "committed"}, CLUSTER, False, NOW)
    # the cluster answer does not show VM 150 yet: pve1 still holds its memory, the next goes to pve2
    assert reserve(store, "b", memory_mb=30000)["reservation"]["node"] == "pve2"
    # committed long before the answer and missing from it: the VM is gone, it does not count
    late = cluster_of(lab_cluster())
    later = NOW + res.COMMIT_LAG + 10
    assert reserve(store, "c", memory_mb=30000, now=later, cluster=late)["reservation"]["node"] in ("pve1", "pve2")


def test_store_urls():
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import StoreError
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store, redact, sqlite_path

    assert sqlite_path("sqlite:///var/lib/x/state.db") == "/var/lib/x/state.db"
    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://h/db") == "postgresql://h/db"
    with pytest.raises(StoreError, match="state_store: 'mysql://x' is not a sqlite"):
        open_store("mysql://x")


def test_a_newer_schema_is_refused(store, store_url):
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import StoreError
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store

    store.run(lambda tx: tx.execute("UPDATE ic_schema SET version = 99"))
    with pytest.raises(StoreError, match="the schema is version 99, newer"):
        open_store(store_url)

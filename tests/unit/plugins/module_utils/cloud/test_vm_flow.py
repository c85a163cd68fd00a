"""cloud_vm's CreateVM flow (_cloud/vm_flow.py) on a real SQLite store and a stateful fake of the Proxmox API.

A fault is injected at every step (reserve, place, lease, clone, config, bind, start, commit): afterwards nothing is
left (no VM, lease, reservation or usage) and a rerun converges. Also: a second run changes nothing, check mode
changes nothing, another tenant's VM is refused, absent, power states.
"""

from __future__ import annotations

import sqlite3

import pytest
from fake_pve import TEMPLATE, FakePve
from pve_stub import Clock

from ansible_collections.ironcloud.stack.plugins.module_utils._cloud import vm_flow
from ansible_collections.ironcloud.stack.plugins.module_utils._cloud.vm_flow import CreateFailed, ensure_vm
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError, ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient, ProxmoxError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    Conflict,
    NoPlacement,
    QuotaExceeded,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.providers import ensure_provider
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.routers import ensure_router
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage import report

NOW = 1_800_000_000.0
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC4RBUkNO/1zy3NdsCMcKBJFlmvEM0yNncSczjsGO1zV admin@example.com"
FINGERPRINT = "SHA256:ZZYp5/vaBFN/ePk/OlaIwuTegd8UE0i9VI7vrtbN9dM"  # ssh-keygen -lf of KEY
BASE = {
    "tenant": "acme",
    "project": "web",
    "name": "web1",
    "cores": 2,
    "memory_mb": 2048,
    "disk_gb": 10,
    "image": "debian-12-cloud",
    "network": "front",
    "ciuser": "debian",
    "sshkeys": [KEY],
    "state": "present",
}


class Cloud:
    def __init__(self, tmp_path, quota=None) -> None:
        self.db = str(tmp_path / "state.db")
        self.store = open_store("sqlite://" + self.db)
        self.pve = FakePve()
        for tenant in ("acme", "other"):
            ensure_tenant(self.store, {"name": tenant, "quota": quota, "projects": ["web"]}, False, NOW)
            ensure_network(self.store, {"tenant": tenant, "project": "web", "name": "front"}, False, NOW)

    def run(self, check=False, token=None, placement=None, **params):
        conn = {"api_host": "pve.example.com"}
        if token:
            conn.update(api_token_id=token, api_token_secret="s")
        clock = Clock()
        api = ProxmoxClient(conn, api=self.pve, sleep=clock.sleep, clock=clock)
        return ensure_vm(self.store, api, dict(BASE, **params), check, NOW, placement)

    def rows(self, sql, params=()):
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def execute(self, sql):
        conn = sqlite3.connect(self.db, isolation_level=None)
        try:
            conn.execute(sql)
        finally:
            conn.close()

    def reservations(self, name="web1"):
        return self.rows("SELECT id, state, vmid, node FROM reservations WHERE name = ?", (name,))

    def leases(self, name="web1"):
        return self.rows("SELECT owner, address, vmid FROM leases WHERE owner = ?", (name + "/net0",))

    def used(self, tenant="acme"):
        return self.store.run(lambda tx: report(tx, NOW + 1, tenant), write=False)[0]

    def changes(self):
        return [c for c in self.pve.calls if c[0] != "GET"]

    def nothing_left(self, name="web1"):
        assert self.reservations(name) == []
        assert self.leases(name) == []
        assert self.pve.by_name(name) == []
        usage = self.used()
        assert usage["used"]["vms"] == 0 and usage["reserved"]["vms"] == 0, usage
        assert usage["used"]["addresses"] == 0 and usage["reserved"]["addresses"] == 0, usage


@pytest.fixture
def cloud(tmp_path):
    c = Cloud(tmp_path)
    yield c
    c.store.close()


def made(cloud, name="web1"):
    """The committed reservation, the bound lease and the VM of a created VM, checked against each other."""
    res, leases, vms = cloud.reservations(name), cloud.leases(name), cloud.pve.by_name(name)
    assert len(res) == 1 and res[0]["state"] == "committed", res
    assert len(vms) == 1, vms
    assert len(leases) == 1 and leases[0]["vmid"] == res[0]["vmid"] == vms[0]["vmid"], (res, leases)
    return vms[0]


# ------------------------------------------------------------------ create, idempotence, check mode


def test_create_returns_what_a_user_needs_and_the_second_run_changes_nothing(cloud):
    first = cloud.run()
    assert first["changed"] is True
    vm = made(cloud)
    out = first["vm"]
    assert out["vmid"] == vm["vmid"] and out["node"] == vm["node"] == cloud.reservations()[0]["node"]
    assert out["address"] == cloud.leases()[0]["address"] + "/24"
    assert out["gateway"] == "10.100.0.1"
    assert out["status"] == "running" == vm["status"]
    assert (out["tenant"], out["project"], out["name"]) == ("acme", "web", "web1")
    assert out["ssh_user"] == "debian"
    assert out["ssh_key_fingerprints"] == [FINGERPRINT]
    assert out["ssh_key_file"] is None and out["floating_ip"] is None and out["dns_name"] == "web1.web.acme"
    assert "s" not in [v for v in out.values() if isinstance(v, str)]  # no secret in the output
    config = vm["config"]
    assert config["tags"] == "ic-project-web;ic-tenant-acme"
    assert config["ipconfig0"] == "ip=%s,gw=10.100.0.1" % out["address"]
    # the project's router serves the project's names on the gateway address
    assert config["nameserver"] == "10.100.0.1" and config["searchdomain"] == "web.acme"
    assert "bridge=br-int" in config["net0"] and "tag=" in config["net0"] and "mtu=1450" in config["net0"]
    assert config["cores"] == "2" and config["memory"] == "2048" and "size=10G" in config["scsi0"]
    assert vm["pool"] == "ic-acme"
    assert first["diff"]["before"] == {} and first["diff"]["after"]["vmid"] == vm["vmid"]

    calls = len(cloud.pve.calls)
    second = cloud.run()
    assert second["changed"] is False, second
    assert second["diff"] == {"before": {}, "after": {}}
    assert second["vm"] == out
    assert [c for c in cloud.pve.calls[calls:] if c[0] != "GET"] == []


def test_check_mode_predicts_and_changes_nothing(cloud):
    checked = cloud.run(check=True)
    assert checked["changed"] is True
    assert checked["vm"]["vmid"] is None and checked["vm"]["node"] in cloud.pve.nodes
    assert checked["vm"]["address"] == "10.100.0.2/24"
    assert checked["diff"]["before"] == {} and checked["diff"]["after"]["address"] == "10.100.0.2/24"
    assert cloud.changes() == []
    cloud.nothing_left()

    cloud.run()
    again = cloud.run(check=True)
    assert again["changed"] is False


def test_size_from_sizes(cloud):
    result = cloud.run(
        cores=None,
        memory_mb=None,
        disk_gb=None,
        size="small",
        sizes={"small": {"cores": 1, "memory_mb": 1024, "disk_gb": 4}},
    )
    assert result["vm"]["cores"] == 1
    assert made(cloud)["config"]["memory"] == "1024"


@pytest.mark.parametrize(
    "params,option",
    [
        ({"size": "small"}, "size"),
        ({"cores": None, "memory_mb": None, "disk_gb": None, "size": "huge", "sizes": {"small": {}}}, "size"),
        ({"disk_gb": None}, "disk_gb"),
        ({"network": None}, "network"),
        ({"image": None}, "image"),
        ({"sshkeys": ["ssh-ed25519 not-base64!"]}, "sshkeys"),
        ({"name": "Web_1"}, "name"),
        ({"tenant": "Acme"}, "tenant"),
        ({"roles": ["k3s_server"]}, "roles"),
        ({"roles": ["tenant-other"]}, "roles"),
        ({"roles": ["running"]}, "roles"),
        ({"ciuser": "Debian"}, "ciuser"),
        ({"ciuser": "de bian"}, "ciuser"),
    ],
)
def test_bad_input_is_refused_before_anything(cloud, params, option):
    with pytest.raises(ValidationError) as e:
        cloud.run(**params)
    assert e.value.message.startswith(option)
    assert cloud.pve.calls == []
    cloud.nothing_left()


def test_unknown_image_or_network_is_refused_before_anything(cloud):
    with pytest.raises(ValidationError, match="^image: no template 'nope'"):
        cloud.run(image="nope")
    cloud.pve.add_vm(700, "plain", "pve1")
    with pytest.raises(ValidationError, match="is a VM, not a template"):
        cloud.run(image="700")
    with pytest.raises(IroncloudError, match="^network: 'back' is not a network"):
        cloud.run(network="back")
    assert cloud.changes() == []
    cloud.nothing_left()


def test_image_by_vmid_and_fixed_address(cloud):
    result = cloud.run(image=str(TEMPLATE), address="10.100.0.9")
    assert result["vm"]["address"] == "10.100.0.9/24"
    assert made(cloud)["config"]["ipconfig0"].startswith("ip=10.100.0.9/24")


# ------------------------------------------------------------------ faults at every step

STORE_FAULTS = {  # step: the statement the store fails for web1 (a trigger)
    "reserve": "BEFORE INSERT ON reservations WHEN NEW.name = 'web1'",
    "lease": "BEFORE INSERT ON leases WHEN NEW.owner = 'web1/net0'",
    "bind": "BEFORE UPDATE ON leases WHEN NEW.owner = 'web1/net0' AND NEW.vmid IS NOT NULL",
    "commit": "BEFORE UPDATE ON reservations WHEN NEW.name = 'web1' AND NEW.state = 'committed'",
}
STEPS = ["reserve", "place", "lease", "clone", "config", "bind", "start", "commit"]


def boom(step):
    def fail():
        raise ProxmoxError("GET /cluster/resources failed: 500 boom (%s)" % step)

    return fail


@pytest.mark.parametrize("step", STEPS)
def test_a_fault_at_each_step_leaves_nothing_and_a_rerun_converges(cloud, step):
    placement = None
    if step in STORE_FAULTS:
        cloud.execute(
            "CREATE TRIGGER fault %s BEGIN SELECT RAISE(ABORT, 'boom (%s)'); END" % (STORE_FAULTS[step], step)
        )
    elif step == "place":
        placement = boom(step)
    else:
        cloud.pve.fail(step)
    with pytest.raises(CreateFailed) as e:
        cloud.run(placement=placement)
    failure = e.value
    assert failure.message.startswith("creating VM acme/web/web1 failed at %s: " % step), failure.message
    assert "boom (%s)" % step in failure.message
    assert failure.details["step"] == step and failure.details["rollback_failed"] == []
    undone = failure.details["rolled_back"]
    if STEPS.index(step) >= STEPS.index("clone") and step != "clone":
        assert "VM destroyed" in undone
    if STEPS.index(step) > STEPS.index("lease"):
        assert "address released" in undone
    if STEPS.index(step) > STEPS.index("place"):
        assert undone[-1] == "reservation dropped"
    cloud.nothing_left()

    cloud.execute("DROP TRIGGER IF EXISTS fault")
    again = cloud.run()
    assert again["changed"] is True and again["vm"]["status"] == "running"
    made(cloud)
    assert cloud.run()["changed"] is False


def test_no_node_with_room_leaves_nothing(cloud):
    with pytest.raises(CreateFailed, match="failed at place: no node can take 100 cores") as e:
        cloud.run(cores=100)
    assert e.value.details["rolled_back"] == []
    cloud.nothing_left()


def test_quota_exceeded_leaves_nothing(tmp_path):
    cloud = Cloud(tmp_path, quota={"cores": 1})
    with pytest.raises(CreateFailed, match="quota exceeded for tenant acme: cores 2 > 1"):
        cloud.run()
    cloud.nothing_left()


def test_an_address_quota_of_one_is_enough_for_one_vm(tmp_path):
    """The reservation's address and the VM's lease are one address (issue 10: they were counted twice)."""
    cloud = Cloud(tmp_path, quota={"addresses": 1})
    assert cloud.run()["changed"] is True


def test_a_failing_rollback_says_so_and_names_reconcile(cloud):
    cloud.pve.fail("config")
    cloud.pve.fail("destroy")
    with pytest.raises(CreateFailed) as e:
        cloud.run()
    assert "the rollback itself failed: VM destroyed: " in e.value.message
    assert "run cloud_reconcile" in e.value.message
    assert e.value.details["rolled_back"] == ["address released", "reservation dropped"]
    assert cloud.reservations() == [] and cloud.leases() == []


def test_placement_connection_that_sees_no_node_is_refused(cloud):
    with pytest.raises(CreateFailed, match="placement: the connection sees no node") as e:
        cloud.run(placement=lambda: [])
    assert e.value.details["error_details"]["option"] == "placement_api_token_id"
    cloud.nothing_left()


def test_placement_reads_the_placement_connection(cloud):
    seen = []

    def placement():
        seen.append(1)
        return [r for r in cloud.pve.resources(None) if r["node"] == "pve3" or r["type"] != "node"]

    assert cloud.run(placement=placement)["vm"]["node"] == "pve3"
    assert seen == [1]


# ------------------------------------------------------------------ an interrupted run, converge, power


def test_a_run_killed_after_the_clone_is_finished_by_a_rerun(cloud):
    params = dict(vm_flow.VmFlow(cloud.store, None, BASE, False, NOW)._reserve_params(vm_flow.spec_of(BASE)))
    reserved = reservations.ensure_reservation(
        cloud.store, params, lambda: reservations.Cluster(cloud.pve.resources(None)), False, NOW
    )
    node = reserved["reservation"]["node"]
    cloud.pve.add_vm(
        321, "web1", node, config={"tags": "ic-project-web;ic-tenant-acme", "scsi0": "vmstore:vm-321-disk-0,size=2G"}
    )
    result = cloud.run()
    assert result["changed"] is True
    assert "committed" in result["actions"] and "started" in result["actions"]
    vm = made(cloud)
    assert vm["vmid"] == 321 and vm["status"] == "running"
    assert "ipconfig0" in vm["config"]
    assert cloud.run()["changed"] is False


def test_stopped_and_started_converge_power(cloud):
    cloud.run()
    stopped = cloud.run(state="stopped")
    assert stopped["changed"] is True and stopped["vm"]["status"] == "stopped"
    assert stopped["diff"]["before"]["status"] == "running" and stopped["diff"]["after"]["status"] == "stopped"
    assert cloud.run(state="stopped")["changed"] is False
    assert cloud.run()["changed"] is False  # present keeps the power state of an existing VM
    started = cloud.run(state="started")
    assert started["changed"] is True and made(cloud)["status"] == "running"


def test_a_new_vm_with_state_stopped_is_not_started(cloud):
    result = cloud.run(state="stopped")
    assert result["vm"]["status"] == "stopped" and made(cloud)["status"] == "stopped"


def login_users(cloud, name="web1"):
    return [r["login_user"] for r in cloud.rows("SELECT login_user FROM leases WHERE owner = ?", (name + "/net0",))]


def test_the_lease_records_the_cloud_init_user_for_the_inventory(cloud):
    cloud.run(check=True)
    assert login_users(cloud) == []
    cloud.run()
    assert login_users(cloud) == ["debian"]
    assert cloud.run()["changed"] is False
    # a VM without ciuser: its login user is not known
    cloud.run(name="web2", ciuser=None)
    assert login_users(cloud, "web2") == [None]
    # an existing lease without one (made by an older collection) gets it on the next run, reported as a change
    cloud.execute("UPDATE leases SET login_user = NULL WHERE owner = 'web1/net0'")
    rerun = cloud.run()
    assert rerun["changed"] is True and "login user recorded" in rerun["actions"]
    assert rerun["diff"] == {"before": {"lease.login_user": None}, "after": {"lease.login_user": "debian"}}
    assert login_users(cloud) == ["debian"]
    # ciuser left out keeps the recorded one (the VM keeps its cloud-init user too)
    assert cloud.run(ciuser=None)["changed"] is False and login_users(cloud) == ["debian"]


def test_config_drift_is_converged(cloud):
    cloud.run()
    result = cloud.run(cores=4)
    assert result["changed"] is True
    assert result["diff"]["after"]["config"]["cores"] == "4"
    assert made(cloud)["config"]["cores"] == "4"


def test_roles_are_tags_the_inventory_groups_by_and_converge(cloud):
    made_vm = cloud.run(roles=["k3s-server"])
    assert made_vm["changed"]
    tags = set(made(cloud)["config"]["tags"].split(";"))
    assert tags == {"ic-tenant-acme", "ic-project-web", "ic-k3s-server"}
    assert cloud.run(roles=["k3s-server"])["changed"] is False
    moved = cloud.run(roles=["k3s-agent"])
    assert moved["changed"] is True
    tags = set(made(cloud)["config"]["tags"].split(";"))
    assert "ic-k3s-agent" in tags and "ic-k3s-server" not in tags
    assert cloud.run(roles=["k3s-agent"])["changed"] is False


# ------------------------------------------------------------------ ownership, absent


def test_another_tenants_vm_is_refused(cloud):
    cloud.pve.add_vm(500, "web1", "pve2", config={"tags": "ic-project-web;ic-tenant-other"})
    with pytest.raises(
        Conflict, match="refused: a VM named web1 exists \\(vmid 500, tags ic-project-web,ic-tenant-other\\)"
    ):
        cloud.run()
    with pytest.raises(Conflict, match="refused: VM web1 \\(vmid 500\\) belongs to ic-project-web, ic-tenant-other"):
        cloud.run(state="absent")
    assert 500 in cloud.pve.vms
    assert cloud.changes() == []
    assert cloud.reservations() == [] and cloud.leases() == []


def test_a_tenant_token_may_not_act_for_another_tenant(cloud):
    with pytest.raises(Conflict, match="is tenant other's and may not act for tenant acme"):
        cloud.run(token="ic-other@pve!ironcloud")
    assert cloud.pve.calls == []
    assert cloud.run(token="ic-acme@pve!ironcloud")["changed"] is True


def test_absent_destroys_and_releases_everything(cloud):
    created = cloud.run()["vm"]
    checked = cloud.run(state="absent", check=True)
    assert checked["changed"] is True and made(cloud)
    gone = cloud.run(state="absent")
    assert gone["changed"] is True
    assert gone["vm"]["vmid"] == created["vmid"] and gone["vm"]["status"] == "absent"
    assert gone["diff"]["before"]["vmid"] == created["vmid"]
    cloud.nothing_left()
    events = cloud.rows("SELECT event FROM usage_events WHERE kind = 'vm' ORDER BY id")
    assert events == [{"event": "committed"}, {"event": "released"}]
    again = cloud.run(state="absent")
    assert again["changed"] is False


def test_absent_without_network_releases_the_lease_on_every_network(cloud):
    cloud.run()
    cloud.run(state="absent", network=None, image=None)
    cloud.nothing_left()


def test_errors_are_ironcloud_errors():
    assert issubclass(CreateFailed, IroncloudError)
    assert issubclass(NoPlacement, IroncloudError) and issubclass(QuotaExceeded, IroncloudError)


def test_power_changes_go_to_the_usage_ledger_for_billing(cloud):
    cloud.run(state="started")
    assert cloud.run(state="stopped")["changed"] is True
    assert cloud.run(state="stopped")["changed"] is False
    assert cloud.run(state="started")["changed"] is True
    events = cloud.rows("SELECT event, state FROM usage_events WHERE kind = 'vm' ORDER BY id")
    assert [e["event"] for e in events] == ["committed", "stopped", "started"]
    assert [e["state"] for e in events[1:]] == ["stopped", "running"]


# ------------------------------------------------------------------ floating IPs, DNS names, the tenant's key pair

FIP_STEPS_AFTER = ["clone", "config", "start"]


def north_south(cloud, tenant="acme", last="203.0.113.20"):
    """A provider network and a router with an external address on the project's network."""
    ensure_provider(
        cloud.store,
        {"name": "external", "cidr": "203.0.113.0/24", "gateway": "203.0.113.1", "range": "203.0.113.10-" + last},
        False,
        NOW,
    )
    params = {"tenant": tenant, "project": "web", "name": "main", "networks": ["front"], "external": True}
    return ensure_router(cloud.store, params, False, NOW)


def floating_rows(cloud, name="web1"):
    return cloud.rows("SELECT address, vm, fixed_address FROM floating_ips WHERE vm = ?", (name,))


def floating_events(cloud):
    """The usage ledger's floating IP rows (billing prices floating_ip_hour from them)."""
    return [
        (r["event"], r["reservation"], r["project"], r["source"])
        for r in cloud.rows("SELECT * FROM usage_events WHERE kind = 'floating_ip' ORDER BY id")
    ]


def test_floating_ip_is_allocated_associated_and_returned_with_the_dns_name(cloud):
    north_south(cloud)
    first = cloud.run(floating_ip=True, dns_domain="cloud.example")
    out = first["vm"]
    rows = floating_rows(cloud)
    assert len(rows) == 1 and rows[0]["fixed_address"] == out["address"].split("/")[0]
    assert out["floating_ip"] == rows[0]["address"] and out["floating_ip"].startswith("203.0.113.")
    assert out["dns_name"] == "web1.web.acme.cloud.example"
    assert made(cloud)["config"]["searchdomain"] == "web.acme.cloud.example"
    assert "floating IP %s" % out["floating_ip"] in first["actions"]
    again = cloud.run(floating_ip=True, dns_domain="cloud.example")
    assert again["changed"] is False and again["vm"]["floating_ip"] == out["floating_ip"]
    # unset: left alone (and still reported); false: released
    assert cloud.run(dns_domain="cloud.example")["vm"]["floating_ip"] == out["floating_ip"]
    off = cloud.run(floating_ip=False, dns_domain="cloud.example")
    assert off["changed"] is True and off["vm"]["floating_ip"] is None and floating_rows(cloud) == []
    assert off["diff"]["before"]["floating_ip"] == out["floating_ip"]
    # one allocated row, none for the reruns, one released row; source cloud_vm
    assert floating_events(cloud) == [
        ("allocated", out["floating_ip"], "web", "cloud_vm"),
        ("released", out["floating_ip"], "web", "cloud_vm"),
    ]


def test_check_mode_with_a_floating_ip_allocates_nothing(cloud):
    north_south(cloud)
    result = cloud.run(check=True, floating_ip=True)
    assert result["changed"] and "would allocate a floating IP" in result["actions"]
    assert floating_rows(cloud) == [] and cloud.changes() == []
    assert floating_events(cloud) == []


@pytest.mark.parametrize("step", FIP_STEPS_AFTER)
def test_a_fault_after_the_floating_ip_releases_it(cloud, step):
    north_south(cloud)
    cloud.pve.fail(step)
    with pytest.raises(CreateFailed) as e:
        cloud.run(floating_ip=True)
    assert "floating IP released" in e.value.details["rolled_back"], e.value.details
    assert floating_rows(cloud) == []
    assert [x[0] for x in floating_events(cloud)] == ["allocated", "released"]  # the rollback is in the ledger too
    cloud.nothing_left()


def test_without_a_router_a_floating_ip_is_refused_before_any_vm_is_made(cloud):
    with pytest.raises(CreateFailed, match="failed at floating_ip: provider: provider network 'external' does not"):
        cloud.run(floating_ip=True)
    cloud.nothing_left()
    north_south(cloud, tenant="other")  # a router exists, but not for acme/web
    with pytest.raises(CreateFailed, match="failed at floating_ip: .*not attached to a router") as e:
        cloud.run(floating_ip=True)
    assert e.value.details["rolled_back"][-2:] == ["address released", "reservation dropped"]
    assert cloud.changes() == [] and floating_rows(cloud) == []
    cloud.nothing_left()


def test_an_exhausted_pool_is_a_clear_error_and_leaves_nothing(cloud):
    north_south(cloud, last="203.0.113.11")  # .10 goes to the router, .11 to web1
    cloud.run(floating_ip=True)
    with pytest.raises(CreateFailed) as e:
        cloud.run(name="web2", floating_ip=True)
    assert e.value.details["step"] == "floating_ip" and "203.0.113.10-203.0.113.11" in e.value.message
    assert cloud.pve.by_name("web2") == []
    assert cloud.leases("web2") == [] and cloud.reservations("web2") == [] and floating_rows(cloud, "web2") == []


def test_absent_releases_the_floating_ip(cloud):
    north_south(cloud)
    cloud.run(floating_ip=True)
    gone = cloud.run(state="absent")
    assert "floating IP released" in gone["actions"] and floating_rows(cloud) == []
    assert [(x[0], x[3]) for x in floating_events(cloud)] == [("allocated", "cloud_vm"), ("released", "cloud_vm")]
    cloud.nothing_left()


def test_the_tenants_key_pair_gives_sshkeys_and_ssh_key_file(tmp_path):
    files = {"/creds/acme_ed25519.pub": KEY + "\n"}
    params = vm_flow.resolve_ssh_key(dict(BASE, sshkeys=None, credentials_dir="/creds/"), files.get)
    assert params["sshkeys"] == [KEY] and params["ssh_key_file"] == "/creds/acme_ed25519"
    spec = vm_flow.spec_of(params)
    assert spec.ssh_key_file == "/creds/acme_ed25519" and spec.sshkeys == (KEY,)
    # an explicit ssh_key_file wins over the credentials directory
    files["/keys/mine.pub"] = KEY
    params = vm_flow.resolve_ssh_key(
        dict(BASE, sshkeys=None, ssh_key_file="/keys/mine", credentials_dir="/c"), files.get
    )
    assert params["ssh_key_file"] == "/keys/mine"
    # the caller's own sshkeys: no key file (the caller holds its private key)
    params = vm_flow.resolve_ssh_key(dict(BASE, credentials_dir="/creds"), files.get)
    assert params["sshkeys"] == [KEY] and vm_flow.spec_of(params).ssh_key_file is None
    # no key pair yet: a clear error naming the option
    with pytest.raises(ValidationError, match=r"credentials_dir: no public key /none/acme_ed25519.pub"):
        vm_flow.resolve_ssh_key(dict(BASE, sshkeys=None, credentials_dir="/none"), files.get)


def test_the_key_file_is_returned_and_no_private_key_is_ever_read(cloud):
    read: list[str] = []

    def reader(path):
        read.append(path)
        return KEY if path.endswith(".pub") else "-----BEGIN OPENSSH PRIVATE KEY-----"

    params = vm_flow.resolve_ssh_key(dict(BASE, sshkeys=None, credentials_dir="/creds"), reader)
    out = cloud.run(**{k: v for k, v in params.items() if k not in BASE or k == "sshkeys"})["vm"]
    assert out["ssh_key_file"] == "/creds/acme_ed25519" and out["ssh_user"] == "debian"
    assert out["ssh_key_fingerprints"] == [FINGERPRINT]
    assert read == ["/creds/acme_ed25519.pub"]
    assert "PRIVATE" not in repr(out)


@pytest.mark.parametrize(
    "params, option",
    [({"dns_domain": "Bad_Domain"}, "dns_domain"), ({"floating_ip": "yes"}, "floating_ip")],
)
def test_bad_north_south_input_is_refused_before_anything(cloud, params, option):
    with pytest.raises(ValidationError) as e:
        cloud.run(**params)
    assert e.value.details.get("option") == option or e.value.message.startswith(option)
    assert cloud.changes() == [] and cloud.reservations() == []

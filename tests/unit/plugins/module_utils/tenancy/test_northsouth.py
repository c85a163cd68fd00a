"""Provider networks, routers and floating IPs in the state store, on both backends."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ledger
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import Conflict, NotFound, QuotaExceeded
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.floating_ips import ensure_floating_ip
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.providers import ensure_provider
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reconcile import reconcile
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.routers import ensure_router
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

NOW = 1_800_000_000.0


def provider(store, check=False, **kw):
    params = {
        "name": "external",
        "cidr": "203.0.113.0/24",
        "gateway": "203.0.113.1",
        "range": "203.0.113.10-203.0.113.20",
    }
    params.update(kw)
    return ensure_provider(store, params, check, NOW)


def router(store, tenant="acme", project="web", name="r1", check=False, **kw):
    params = {"tenant": tenant, "project": project, "name": name, "networks": ["front"], "external": True}
    params.update(kw)
    return ensure_router(store, params, check, NOW)


def fip(store, tenant="acme", project="web", check=False, **kw):
    params = {"tenant": tenant, "project": project}
    params.update(kw)
    return ensure_floating_ip(store, params, check, NOW)


def setup(store, quota=None):
    """Two tenants with the same subnet, a VM address each, a provider network."""
    for tenant in ("acme", "beta"):
        ensure_tenant(store, {"name": tenant, "projects": ["web", "db"], "quota": quota}, False, NOW)
        ensure_network(store, {"tenant": tenant, "project": "web", "name": "front", "cidr": "10.0.0.0/24"}, False, NOW)
        for vm in ("web1", "web2"):
            ensure_address(
                store, {"tenant": tenant, "project": "web", "network": "front", "owner": vm + "/net0"}, False, NOW
            )
    provider(store)


def count(store, table):
    return store.run(lambda tx: tx.value("SELECT COUNT(*) FROM %s" % table), write=False)


# ------------------------------------------------------------------ provider networks


def test_provider_network_check_apply_and_bad_input(store):
    assert provider(store, check=True)["changed"]
    assert count(store, "provider_networks") == 0
    made = provider(store)
    assert made["changed"] and made["provider"]["range"] == "203.0.113.10-203.0.113.20"
    assert not provider(store)["changed"]
    with pytest.raises(ValidationError, match="range: 198.51.100.5 is not a host address of 203.0.113.0/24"):
        provider(store, range="198.51.100.5-198.51.100.9")
    with pytest.raises(ValidationError, match="gateway: .* is not an IPv4 address"):
        provider(store, gateway="nope")


# ------------------------------------------------------------------ routers


def test_router_check_apply_idempotent_and_view(store):
    setup(store)
    check = router(store, check=True)
    assert check["changed"] and check["diff"]["after"]["external_address"] == "203.0.113.10/24"
    assert count(store, "routers") == 0
    made = router(store)["router"]
    assert made == {
        "tenant": "acme",
        "project": "web",
        "name": "r1",
        "namespace": "icr_acme_web_r1",
        "networks": [{"name": "front", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "tag": 1, "mtu": 1450}],
        "external": True,
        "snat": True,
        "provider": "external",
        "external_address": "203.0.113.10/24",
        "external_gateway": "203.0.113.1",
        "floating_ips": [],
    }
    assert not router(store, check=True)["changed"]
    assert not router(store)["changed"]
    # the other tenant's router takes the next address; same subnet, separate routers
    assert router(store, tenant="beta")["router"]["external_address"] == "203.0.113.11/24"
    off = router(store, snat=False)
    assert off["changed"] and off["diff"] == {"before": {"snat": True}, "after": {"snat": False}}


def test_router_refuses_other_projects_networks_and_a_second_router(store):
    setup(store)
    with pytest.raises(NotFound, match="networks: 'back' is not a network of acme/web"):
        router(store, networks=["back"])
    # beta's network of the same name is not acme's: a router of project db cannot take web's network
    with pytest.raises(NotFound, match="networks: 'front' is not a network of acme/db"):
        router(store, project="db")
    router(store)
    with pytest.raises(Conflict, match="networks: front is already attached to router r1"):
        router(store, name="r2")
    with pytest.raises(ValidationError, match="snat: needs external: true"):
        router(store, name="r3", networks=[], external=False, snat=True)
    assert count(store, "routers") == 1


def test_router_internal_only_and_absent(store):
    setup(store)
    made = router(store, external=False)["router"]
    assert made["external_address"] is None and made["snat"] is False
    with pytest.raises(Conflict, match="attached to router r1"):
        ensure_network(store, {"tenant": "acme", "project": "web", "name": "front", "state": "absent"}, False, NOW)
    assert router(store, state="absent", check=True)["changed"]
    assert count(store, "routers") == 1
    assert router(store, state="absent")["changed"]
    assert not router(store, state="absent")["changed"]
    assert count(store, "router_networks") == 0


# ------------------------------------------------------------------ floating IPs


def test_floating_ip_allocate_associate_move_release(store):
    setup(store)
    router(store)
    check = fip(store, vm="web1", check=True)
    assert check["changed"] and count(store, "floating_ips") == 0
    made = fip(store, vm="web1")
    assert made["floating_ip"] == {
        "address": "203.0.113.11",
        "provider": "external",
        "tenant": "acme",
        "project": "web",
        "vm": "web1",
        "network": "front",
        "fixed_address": "10.0.0.2",
        "router": "r1",
    }
    assert not fip(store, vm="web1")["changed"]
    assert router(store)["router"]["floating_ips"] == [
        {"address": "203.0.113.11", "fixed": "10.0.0.2", "vm": "web1", "network": "front"}
    ]
    moved = fip(store, address="203.0.113.11", vm="web2")
    assert moved["changed"] and moved["diff"] == {
        "before": {"vm": "web1", "fixed_address": "10.0.0.2"},
        "after": {"vm": "web2", "fixed_address": "10.0.0.3"},
    }
    assert "moved" in moved["msg"]
    assert not fip(store, address="203.0.113.11", vm="web2")["changed"]
    # without vm the floating IP is kept but associated with nothing
    assert fip(store, address="203.0.113.11")["floating_ip"]["fixed_address"] is None
    assert router(store)["router"]["floating_ips"] == []
    assert fip(store, address="203.0.113.11", state="absent")["changed"]
    assert not fip(store, address="203.0.113.11", state="absent")["changed"]
    assert count(store, "floating_ips") == 0


def fip_events(store):
    """The usage ledger's floating IP rows: (event, tenant, address, project, source)."""
    rows = store.run(lambda tx: ledger.read(tx, kind="floating_ip"), write=False)
    return [(r["event"], r["tenant"], r["reservation"], r["project"], r["source"]) for r in rows]


def test_floating_ip_allocation_and_release_write_the_usage_ledger(store):
    setup(store)
    router(store)
    assert fip(store, vm="web1", check=True)["changed"]
    assert fip_events(store) == []  # check mode writes nothing
    address = fip(store, vm="web1")["address"]
    allocated = [("allocated", "acme", address, "web", "cloud_floating_ip")]
    assert fip_events(store) == allocated
    assert not fip(store, vm="web1")["changed"]
    assert not fip(store, address=address, vm="web1")["changed"]
    assert fip_events(store) == allocated  # a rerun writes nothing
    # moving it to another VM and disassociating it are not allocations
    assert fip(store, address=address, vm="web2")["changed"]
    assert fip(store, address=address)["changed"]
    assert fip_events(store) == allocated
    assert fip(store, address=address, state="absent", check=True)["changed"]
    assert fip_events(store) == allocated  # check mode writes nothing
    assert fip(store, address=address, state="absent")["changed"]
    released = allocated + [("released", "acme", address, "web", "cloud_floating_ip")]
    assert fip_events(store) == released
    assert not fip(store, address=address, state="absent")["changed"]
    assert fip_events(store) == released
    # an address asked for by name, in another project, with the caller's source
    ensure_floating_ip(store, {"tenant": "beta", "project": "db", "address": "203.0.113.15"}, False, NOW, "cloud_vm")
    assert fip_events(store)[-1] == ("allocated", "beta", "203.0.113.15", "db", "cloud_vm")


def test_reconcile_bills_a_floating_ip_the_ledger_missed(store):
    """A floating IP allocated before the ledger recorded floating IPs: reconcile writes its 'allocated' row from
    the allocation time (check mode reports it and writes nothing); a second run finds nothing."""
    setup(store)
    router(store)
    address = fip(store, vm="web1")["address"]
    store.run(lambda tx: tx.execute("DELETE FROM usage_events WHERE kind = 'floating_ip'"), write=True)

    def unbilled(check):
        result = reconcile(store, [], lambda node, vmid: {}, check, NOW + 3600)
        return result["drift"]["floating_ips_unbilled"], result["changed"]

    found, changed = unbilled(True)
    assert found == [{"tenant": "acme", "project": "web", "address": address, "since": NOW}] and changed
    assert fip_events(store) == []
    assert unbilled(False) == (found, True)
    assert fip_events(store) == [("allocated", "acme", address, "web", "cloud_reconcile")]
    row = store.run(lambda tx: ledger.read(tx, kind="floating_ip"), write=False)[0]
    assert (row["at"], row["recorded"]) == (NOW, NOW + 3600)  # billed from its allocation, as a correction
    assert unbilled(False) == ([], False)


def test_a_refused_floating_ip_writes_no_ledger_row(store):
    setup(store, quota={"floating_ips": 1})
    router(store)
    fip(store, address="203.0.113.12")
    with pytest.raises(QuotaExceeded):
        fip(store, address="203.0.113.13")
    with pytest.raises(Conflict, match="floating IP of another tenant"):
        fip(store, tenant="beta", address="203.0.113.12", state="absent")
    assert fip_events(store) == [("allocated", "acme", "203.0.113.12", "web", "cloud_floating_ip")]


def test_floating_ip_errors_change_nothing(store):
    setup(store, quota={"floating_ips": 2})
    router(store)
    with pytest.raises(ValidationError, match="address: 203.0.113.50 is not in the pool 203.0.113.10-203.0.113.20"):
        fip(store, address="203.0.113.50")
    with pytest.raises(Conflict, match="address: 203.0.113.10 is already in use"):  # the router's
        fip(store, address="203.0.113.10")
    taken = fip(store, tenant="beta", address="203.0.113.15")["address"]
    with pytest.raises(Conflict, match="address: 203.0.113.15 is a floating IP of another tenant"):
        fip(store, address=taken, vm="web1")
    with pytest.raises(Conflict, match="address: 203.0.113.15 is a floating IP of another tenant"):
        fip(store, address=taken, state="absent")
    with pytest.raises(NotFound, match="vm: web9 holds no address"):
        fip(store, vm="web9")
    with pytest.raises(Conflict, match="vm: network front of beta/web .* is not attached to a router"):
        fip(store, tenant="beta", vm="web1")
    fip(store, vm="web1")
    with pytest.raises(Conflict, match="vm: web1 .* already has floating IP 203.0.113.11"):
        fip(store, address="203.0.113.12", vm="web1")
    fip(store, vm="web2")
    with pytest.raises(QuotaExceeded, match="floating_ips 3 > 2"):
        fip(store, address="203.0.113.13")
    assert store.run(lambda tx: tx.all("SELECT address FROM floating_ips ORDER BY addr_int"), write=False) == [
        {"address": "203.0.113.11"},
        {"address": "203.0.113.12"},
        {"address": "203.0.113.15"},
    ]
    with pytest.raises(Conflict, match="floating IP 203.0.113.11 goes through router acme/web/r1"):
        router(store, networks=[])
    with pytest.raises(Conflict, match="still carries floating IP"):
        router(store, state="absent")
    with pytest.raises(Conflict, match="still owns .*2 floating IP"):
        ensure_tenant(store, {"name": "acme", "state": "absent"}, False, NOW)


def test_exhausted_pool_is_a_clear_error(store):
    setup(store)
    provider(store, range="203.0.113.10-203.0.113.12")
    router(store)
    fip(store, address="203.0.113.11")
    fip(store, address="203.0.113.12")
    with pytest.raises(Conflict, match="provider: the pool 203.0.113.10-203.0.113.12 of provider network external is "):
        fip(store, vm="web1")
    with pytest.raises(Conflict, match="range: 203.0.113.12 is in use and outside the new pool"):
        provider(store, range="203.0.113.10-203.0.113.11")
    assert count(store, "floating_ips") == 2


def test_parallel_allocations_never_share_an_address(store_url):
    """8 threads, each with its own store connection, allocate 40 floating IPs at once from a pool with 30 free:
    30 distinct addresses, 10 clear 'exhausted' errors, nothing handed out twice."""
    main = open_store(store_url)
    setup(main)
    provider(main, range="203.0.113.10-203.0.113.40")  # 31 addresses; the router takes one
    router(main)
    for n in range(40):
        ensure_address(
            main, {"tenant": "acme", "project": "web", "network": "front", "owner": "v%d/net0" % n}, False, NOW
        )
    main.close()
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        own = open_store(store_url)
        try:
            for vm in range(n, 40, 8):
                try:
                    got = fip(own, vm="v%d" % vm)
                except Conflict as e:
                    with lock:
                        errors.append(e)
                else:
                    with lock:
                        results.append(got["address"])
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 30 and len(set(results)) == 30
    assert "203.0.113.10" not in results  # the router's
    assert len(errors) == 10 and all("exhausted" in str(e) for e in errors), errors
    check = open_store(store_url)
    assert count(check, "floating_ips") == 30
    check.close()

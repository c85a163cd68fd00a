"""storage_gb in cloud_usage_info from each tenant's Ceph pool (usage_info's stored_bytes)."""

from __future__ import annotations

from test_tenancy import NOW, tenant

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage import GiB, usage_info


def test_storage_gb_used_is_the_tenants_pool_rounded_up_to_gib(store):
    tenant(store, quota={"storage_gb": 10})
    tenant(store, name="globex")
    reads = []

    def stored() -> dict[str, int]:
        reads.append(1)
        return {"ic-acme": 2 * GiB + 1, "ic-other": 50 * GiB}

    found = {t["name"]: t for t in usage_info(store, NOW, None, None, stored)["tenants"]}
    assert reads == [1], "Ceph is read once for all tenants"
    assert found["acme"]["used"]["storage_gb"] == 3
    assert found["acme"]["free"]["storage_gb"] == 7
    assert found["globex"]["used"]["storage_gb"] == 0 and found["globex"]["free"]["storage_gb"] is None
    assert all(p["used"]["storage_gb"] == 0 for p in found["acme"]["projects"])


def test_without_the_pools_storage_gb_reads_zero(store):
    tenant(store, quota={"storage_gb": 10})
    (acme,) = usage_info(store, NOW, "acme", None)["tenants"]
    assert acme["used"]["storage_gb"] == 0 and acme["free"]["storage_gb"] == 10

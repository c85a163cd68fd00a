"""Compute defects fixed in the logic, checked against the lab's Proxmox API.

A tenant's token clones the shared template into its own pool and can do nothing else to the template:
proxmox_tenant gives the tenant's group and token PVETemplateUser (VM.Clone, VM.Audit) on `templates`. The lab
enforces PVE's permission rules (clone: VM.Clone on the source, VM.Allocate on the new VM's pool,
Datastore.AllocateSpace on the storage; start, config and destroy need VM.PowerMgmt, VM.Config.*, VM.Allocate).
Names start with h2t- so tests running beside this one do not collide; everything is removed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient, ProxmoxError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.tenant import TenantManager
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vms import VmManager

TEMPLATE = 9000
TENANT = "h2t-clone"
VM_NAME = "h2t-clone-1"


def operator(lab_env: dict[str, str]) -> ProxmoxClient:
    return ProxmoxClient(
        {
            "api_host": lab_env["PROXMOX_HOST"],
            "api_port": int(lab_env["PROXMOX_PORT"]),
            "api_token_id": lab_env["PROXMOX_TOKEN_ID"],
            "api_token_secret": lab_env["PROXMOX_TOKEN_SECRET"],
            "ca_path": lab_env["PROXMOX_CA_PATH"],
        }
    )


def tenant_params(**over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": TENANT,
        "token_name": "ironcloud",
        "storages": ["vmstore"],
        "templates": [str(TEMPLATE)],
        "force": True,
    }
    params.update(over)
    return params


@pytest.fixture
def tenant(lab_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    admin = operator(lab_env)
    TenantManager(admin, tenant_params(state="absent")).ensure()
    made = TenantManager(admin, tenant_params()).ensure()
    token = ProxmoxClient(
        {
            "api_host": lab_env["PROXMOX_HOST"],
            "api_port": int(lab_env["PROXMOX_PORT"]),
            "api_token_id": made["token_id"],
            "api_token_secret": made["token_secret"],
            "ca_path": lab_env["PROXMOX_CA_PATH"],
        }
    )
    try:
        yield {"admin": admin, "token": token, "pool": made["pool"]}
    finally:
        TenantManager(operator(lab_env), tenant_params(state="absent")).ensure()


def test_tenant_token_clones_the_template_into_its_pool_and_nothing_more(tenant):
    token, pool = tenant["token"], tenant["pool"]
    created = VmManager(
        token, {"name": VM_NAME, "clone": str(TEMPLATE), "pool": pool, "cores": 1, "state": "present"}
    ).ensure()
    assert created["changed"] and created["actions"][0] == "cloned"
    vmid = created["vm"]["vmid"]
    mine = [r for r in token.resources("vm") if r.get("vmid") == vmid]
    assert mine and mine[0]["pool"] == pool
    template = next(r for r in token.resources("vm") if r["vmid"] == TEMPLATE)
    node = template["node"]
    refused = {
        "start": ("post", "nodes/%s/qemu/%d/status/start" % (node, TEMPLATE), {}),
        "config": ("put", "nodes/%s/qemu/%d/config" % (node, TEMPLATE), {"description": "taken"}),
        "destroy": ("delete", "nodes/%s/qemu/%d" % (node, TEMPLATE), {}),
        "clone outside its pool": ("post", "nodes/%s/qemu/%d/clone" % (node, TEMPLATE), {"newid": vmid + 1}),
    }
    for what, (method, path, params) in refused.items():
        with pytest.raises(ProxmoxError) as caught:
            getattr(token, method)(path, **params)
        assert caught.value.details.get("status") == 403, what
    assert tenant["admin"].get("nodes/%s/qemu/%d/config" % (node, TEMPLATE)).get("template") == 1


def test_tenant_with_a_missing_storage_is_refused_before_any_change(lab_env):
    admin = operator(lab_env)
    with pytest.raises(ValidationError) as caught:
        TenantManager(admin, tenant_params(name="h2t-nostore", storages=["vmstore", "h2t-nope"])).ensure()
    assert caught.value.message.startswith("storages: h2t-nope does not exist (storages of the cluster: ")
    assert "vmstore" in caught.value.message
    assert "ic-h2t-nostore" not in {p["poolid"] for p in admin.get("pools")}
    assert "ic-h2t-nostore" not in {g["groupid"] for g in admin.get("access/groups")}

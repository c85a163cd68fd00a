"""cloud_tenant (the store) and proxmox_tenant (Proxmox) accept and refuse the same tenant names."""

from __future__ import annotations

import pytest
from pve_stub import StubApi, client

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import NAME_MAX
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.tenant import TenantManager
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

BOUNDARY = [
    ("a" * NAME_MAX, True),  # 31 characters: the longest
    ("a" * (NAME_MAX + 1), False),
    ("a" * (NAME_MAX - 1), True),
    ("a" * (NAME_MAX - 2) + "-b", True),
    ("a", True),
    ("a-", False),
    ("1a", False),
    ("-a", False),
    ("aB", False),
    ("a_b", False),
    ("a.b", False),
    ("a b", False),
]


def accepted_by_proxmox_tenant(name: str) -> bool:
    api = StubApi()
    roles = ("PVEVMAdmin", "PVEDatastoreUser", "PVETemplateUser")
    api.on("GET", "access/roles", [{"roleid": role} for role in roles])
    for path in ("pools", "access/groups", "access/users", "access/acl"):
        api.on("GET", path, [])
    try:
        params = {"name": name, "token": True, "token_name": "ironcloud", "templates": []}
        result = TenantManager(client(api), params, check_mode=True).ensure()
    except ValidationError as e:
        assert str(e).startswith("name: %r is not a valid name" % name)
        return False
    assert result["user"] == "ic-%s@pve" % name and result["changed"]
    return True


def accepted_by_cloud_tenant(store, name: str) -> bool:
    try:
        result = ensure_tenant(store, {"name": name, "state": "present"}, check_mode=True, now=1000.0)
    except ValidationError as e:
        assert str(e).startswith("name: %r is not a valid name" % name)
        return False
    assert result["changed"]
    return True


@pytest.mark.parametrize("name, valid", BOUNDARY)
def test_both_layers_agree_on_tenant_names(tmp_path, name, valid):
    store = open_store("sqlite://" + str(tmp_path / "state.db"))
    try:
        assert accepted_by_cloud_tenant(store, name) is valid
    finally:
        store.close()
    assert accepted_by_proxmox_tenant(name) is valid

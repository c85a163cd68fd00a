"""TenantManager (proxmox_tenant's logic) against a stubbed API: what it reads, what it changes, what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pve_stub import StubApi, client, stopped, upid

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import tenant
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.tenant import TenantManager

ROLES = [{"roleid": r} for r in ("Administrator", "PVEDatastoreUser", "PVETemplateUser", "PVEVMAdmin")]
STORAGES = [{"storage": "local"}, {"storage": "vmstore"}]
TEMPLATE = {"type": "qemu", "vmid": 9000, "name": "debian-12-cloud", "node": "pve1", "template": 1}
PLAIN_VM = {"type": "qemu", "vmid": 101, "name": "web-1", "node": "pve2", "template": 0}


def cluster(
    pools: list[str] | None = None,
    groups: list[str] | None = None,
    users: list[dict[str, Any]] | None = None,
    tokens: list[str] | None = None,
    acl: list[tuple[str, str, str, str]] | None = None,
) -> StubApi:
    """A stub answering proxmox_tenant's reads, and accepting every write."""
    api = StubApi()
    api.on("GET", "access/roles", ROLES)
    api.on("GET", "pools", [{"poolid": p} for p in pools or []])
    api.on("GET", "storage", STORAGES)
    api.on("GET", "cluster/resources", [TEMPLATE, PLAIN_VM])
    api.on("GET", "access/groups", [{"groupid": g} for g in groups or []])
    api.on("GET", "access/users", users or [])
    api.on("GET", "access/users/ic-acme@pve/token", [{"tokenid": t} for t in tokens or []])
    api.on(
        "GET",
        "access/acl",
        [{"path": a[0], "type": a[1], "ugid": a[2], "roleid": a[3], "propagate": 1} for a in acl or []],
    )
    for method, path in (("POST", "pools"), ("POST", "access/groups"), ("POST", "access/users")):
        api.on(method, path, None)
    api.on("POST", "access/users/ic-acme@pve/token/ironcloud", {"value": "0000-secret"})
    api.on("PUT", "access/acl", None)
    return api


def run(api: StubApi, check: bool = False, **params: Any) -> dict[str, Any]:
    params.setdefault("name", "acme")
    params.setdefault("token_name", "ironcloud")
    return TenantManager(client(api), params, check).ensure()


def writes(api: StubApi) -> list[tuple[str, str, dict[str, Any]]]:
    return [c for c in api.calls if c[0] != "GET"]


def acl_puts(api: StubApi) -> list[tuple[str, str, str]]:
    return sorted(
        (c[2]["path"], c[2].get("groups") or c[2].get("tokens"), c[2]["roles"])
        for c in api.calls
        if c[:2] == ("PUT", "access/acl")
    )


GROUP, TOKEN = "ic-acme", "ic-acme@pve!ironcloud"
# Everything a complete tenant acme with storages [vmstore] and the default templates holds.
DONE_ACL = [
    (path, kind, ugid, role)
    for kind, ugid in (("group", GROUP), ("token", TOKEN))
    for path, role in (
        ("/pool/ic-acme", "PVEVMAdmin"),
        ("/storage/vmstore", "PVEDatastoreUser"),
        ("/pool/ironcloud-templates", "PVETemplateUser"),
    )
]
DONE = dict(
    pools=["ic-acme", "ironcloud-templates"],
    groups=[GROUP],
    users=[{"userid": "ic-acme@pve", "groups": GROUP}],
    tokens=["ironcloud"],
    acl=DONE_ACL,
)


def test_new_tenant_gets_pool_group_user_token_and_acls():
    api = cluster(pools=["ironcloud-templates"])
    result = run(api, storages=["vmstore"])
    assert result["changed"] and result["token_secret"] == "0000-secret"
    assert result["token_id"] == TOKEN
    made = [(m, p) for m, p, _params in writes(api) if p != "access/acl"]
    assert made == [
        ("POST", "pools"),
        ("POST", "access/groups"),
        ("POST", "access/users"),
        ("POST", "access/users/ic-acme@pve/token/ironcloud"),
    ]
    token = next(c for c in api.calls if c[1] == "access/users/ic-acme@pve/token/ironcloud" and c[0] == "POST")
    assert token[2] == {"privsep": 1, "comment": "ironcloud tenant acme"}
    assert acl_puts(api) == sorted((a[0], a[2], a[3]) for a in DONE_ACL)
    assert all(c[2]["propagate"] == 1 for c in api.calls if c[1] == "access/acl" and c[0] == "PUT")


def test_templates_get_clone_rights_only():
    """Defect: a tenant's token could not clone the shared template. The group and the token now get
    PVETemplateUser (VM.Clone, VM.Audit) on each template or pool of templates, and nothing more."""
    api = cluster(pools=["ironcloud-templates"])
    run(api, templates=["9000", "ironcloud-templates"])
    template_entries = [a for a in acl_puts(api) if a[0] in ("/vms/9000", "/pool/ironcloud-templates")]
    assert template_entries == [
        ("/pool/ironcloud-templates", GROUP, "PVETemplateUser"),
        ("/pool/ironcloud-templates", TOKEN, "PVETemplateUser"),
        ("/vms/9000", GROUP, "PVETemplateUser"),
        ("/vms/9000", TOKEN, "PVETemplateUser"),
    ]


def test_default_templates_pool_is_created_when_missing():
    api = cluster()
    result = run(api)
    pools = [c[2] for c in writes(api) if c[1] == "pools"]
    assert {"poolid": "ironcloud-templates", "comment": tenant.TEMPLATES_COMMENT} in pools
    assert result["diff"]["after"]["templates pool"] == "ironcloud-templates"


def test_no_templates_means_no_template_rights():
    api = cluster()
    run(api, templates=[])
    assert not [a for a in acl_puts(api) if a[2] == "PVETemplateUser"]
    assert [c[2]["poolid"] for c in writes(api) if c[1] == "pools"] == ["ic-acme"]


def test_rerun_reads_only():
    api = cluster(**DONE)
    result = run(api, storages=["vmstore"])
    assert not result["changed"]
    assert result["diff"] == {"before": {}, "after": {}}
    assert writes(api) == []
    assert "token_secret" not in result


def test_check_mode_reports_and_changes_nothing():
    api = cluster()
    result = run(api, check=True, storages=["vmstore"])
    assert result["changed"]
    assert result["diff"]["after"]["pool"] == "ic-acme"
    assert "/pool/ic-acme token %s PVEVMAdmin" % TOKEN in result["diff"]["after"]["acl"]
    assert writes(api) == []


def test_missing_storage_is_refused_before_any_change():
    """Defect: proxmox_tenant accepted a storage that does not exist and made the pool and ACLs anyway."""
    api = cluster()
    with pytest.raises(ValidationError) as caught:
        run(api, storages=["vmstore", "nope", "gone"])
    assert caught.value.message == "storages: gone, nope do not exist (storages of the cluster: local, vmstore)"
    assert writes(api) == []


@pytest.mark.parametrize(
    "templates,message",
    [
        (["101"], "templates: VM 101 (web-1) is not a template; tenants may clone templates only"),
        (["555"], "templates: there is no VM 555 in the cluster"),
        (["golden"], "templates: pool golden does not exist (pools: ic-other)"),
        (["ic-acme"], "templates: 'ic-acme' is the tenant's own pool"),
        (["a/b"], "templates: 'a/b' is neither a VMID nor a pool name"),
    ],
)
def test_bad_templates_are_refused_before_any_change(templates, message):
    api = cluster(pools=["ic-other"])
    with pytest.raises(ValidationError) as caught:
        run(api, templates=templates)
    assert caught.value.message == message
    assert writes(api) == []


def test_unknown_role_names_the_option():
    api = cluster()
    with pytest.raises(ValidationError, match="^role: 'PVEVMBoss' is not a role of the cluster"):
        run(api, role="PVEVMBoss")
    assert writes(api) == []


def test_existing_user_joins_the_group_and_extra_users_are_made():
    state = dict(DONE)
    state["users"] = [{"userid": "ic-acme@pve", "groups": ""}, {"userid": "bob@pve", "groups": "x"}]
    api = cluster(**state)
    api.on("PUT", "access/users/ic-acme@pve", None)
    api.on("PUT", "access/users/bob@pve", None)
    result = run(api, storages=["vmstore"], users=["bob@pve", "carol@pve"])
    assert [(m, p) for m, p, _params in writes(api)] == [
        ("PUT", "access/users/ic-acme@pve"),
        ("PUT", "access/users/bob@pve"),
        ("POST", "access/users"),
    ]
    assert writes(api)[1][2] == {"groups": GROUP, "append": 1}
    assert result["diff"]["after"]["user bob@pve"] == {"groups": [GROUP, "x"]}
    assert result["diff"]["after"]["user carol@pve"] == {"groups": [GROUP]}


def test_token_false_removes_the_token_and_its_entries_go_with_it():
    api = cluster(**DONE)
    api.on("DELETE", "access/users/ic-acme@pve/token/ironcloud", None)
    result = run(api, storages=["vmstore"], token=False)
    assert writes(api) == [("DELETE", "access/users/ic-acme@pve/token/ironcloud", {})]
    assert result["token_id"] is None
    assert result["diff"]["before"]["token"] == TOKEN


def test_stale_acl_entries_are_removed():
    api = cluster(**DONE)
    run(api, storages=[])
    assert sorted((c[2]["path"], c[2]["delete"]) for c in writes(api)) == [
        ("/storage/vmstore", 1),
        ("/storage/vmstore", 1),
    ]


def test_absent_refuses_a_pool_with_guests_unless_force():
    guests = [{"type": "qemu", "vmid": 101, "node": "pve2", "status": "running", "name": "web-1"}]
    api = cluster(**DONE)
    api.answers[("GET", "pools")] = [
        lambda p: [{"poolid": "ic-acme", "members": guests}] if p else [{"poolid": x} for x in DONE["pools"]]
    ]
    with pytest.raises(ProxmoxError, match="pool ic-acme still holds qemu 101; remove them first or set force=true"):
        run(api, state="absent")
    assert writes(api) == []


def test_absent_with_force_destroys_guests_then_removes_everything():
    guests = [{"type": "qemu", "vmid": 101, "node": "pve2", "status": "running", "name": "web-1"}]
    api = cluster(**DONE)
    api.answers[("GET", "pools")] = [
        lambda p: [{"poolid": "ic-acme", "members": guests}] if p else [{"poolid": x} for x in DONE["pools"]]
    ]
    stop, destroy = upid("pve2", "qmstop", 101, 1), upid("pve2", "qmdestroy", 101, 2)
    api.on("POST", "nodes/pve2/qemu/101/status/stop", stop)
    api.on("DELETE", "nodes/pve2/qemu/101", destroy)
    for task in (stop, destroy):
        api.on("GET", "nodes/pve2/tasks/%s/status" % task, stopped())
    for path in ("access/users/ic-acme@pve", "access/groups/ic-acme", "pools"):
        api.on("DELETE", path, None)
    result = run(api, state="absent", force=True)
    assert result["changed"] and result["pool"] is None
    steps = [(m, p) for m, p, _params in writes(api) if p != "access/acl"]
    assert steps == [
        ("POST", "nodes/pve2/qemu/101/status/stop"),
        ("DELETE", "nodes/pve2/qemu/101"),
        ("DELETE", "access/users/ic-acme@pve"),
        ("DELETE", "access/groups/ic-acme"),
        ("DELETE", "pools"),
    ]
    assert len([c for c in writes(api) if c[1] == "access/acl"]) == len(DONE_ACL)
    # The shared templates pool is not the tenant's: it stays.
    assert [c[2] for c in writes(api) if c[:2] == ("DELETE", "pools")] == [{"poolid": "ic-acme"}]

"""The inventory plugin ironcloud.stack.cloud with a stub Proxmox client: options, cache, constructed, unsafe."""

from __future__ import annotations

import os
from typing import Any

import pytest
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.inventory.helpers import get_group_vars
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from ansible.template import Templar

from ansible_collections.ironcloud.stack.plugins.inventory import cloud as plugin_module

MiB = 1024 * 1024

RESOURCES = [
    {"id": "node/pve1", "type": "node", "node": "pve1", "status": "online", "maxcpu": 8, "maxmem": 16384 * MiB},
    {
        "id": "qemu/101",
        "type": "qemu",
        "vmid": 101,
        "node": "pve1",
        "name": "web1",
        "status": "running",
        "template": 0,
        "maxcpu": 2,
        "maxmem": 2048 * MiB,
        "tags": "ic-tenant-acme;ic-project-web;ic-k3s-server",
    },
    {
        "id": "qemu/102",
        "type": "qemu",
        "vmid": 102,
        "node": "pve1",
        "name": "evil{{ 7 * 7 }}",
        "status": "stopped",
        "template": 0,
        "maxcpu": 4,
        "maxmem": 8192 * MiB,
    },
]


class StubClient:
    """Stands in for ProxmoxClient: counts the /cluster/resources requests."""

    calls = 0
    params: dict[str, Any] = {}

    def __init__(self, params: dict[str, Any]) -> None:
        StubClient.params = dict(params)

    def resources(self, kind: str | None = None) -> list[dict[str, Any]]:
        StubClient.calls += 1
        return [dict(r) for r in RESOURCES]


@pytest.fixture(autouse=True)
def stub(monkeypatch: pytest.MonkeyPatch) -> type[StubClient]:
    StubClient.calls = 0
    monkeypatch.setattr(plugin_module, "ProxmoxClient", StubClient)
    monkeypatch.setattr(plugin_module, "HAS_PROXMOXER", True)
    monkeypatch.setattr(plugin_module, "read_store", lambda url: None)
    for var in (
        "PROXMOX_HOST",
        "PROXMOX_PORT",
        "PROXMOX_CA_PATH",
        "PROXMOX_TOKEN_ID",
        "PROXMOX_TOKEN_SECRET",
        "PROXMOX_USER",
        "PROXMOX_PASSWORD",
        "IRONCLOUD_STATE_STORE",
    ):
        monkeypatch.delenv(var, raising=False)
    return StubClient


def run(tmp_path: Any, text: str, name: str = "x.cloud.yml", cache: bool = True) -> InventoryData:
    path = tmp_path / name
    path.write_text(text)
    plugin = inventory_loader.get("ironcloud.stack.cloud")
    assert plugin is not None
    inventory = InventoryData()
    loader = DataLoader()
    plugin.templar = Templar(loader=loader)
    assert plugin.verify_file(str(path))
    plugin.parse(inventory, loader, str(path), cache=cache)
    if plugin.get_option("cache"):
        plugin.update_cache_if_changed()
    return inventory


BASE = "plugin: ironcloud.stack.cloud\napi_host: pve.example.com\n"


def test_verify_file_suffix(tmp_path: Any) -> None:
    plugin = inventory_loader.get("ironcloud.stack.cloud")
    for name, ok in (("a.cloud.yml", True), ("cloud.yaml", True), ("a.proxmox.yml", False), ("cloud.json", False)):
        path = tmp_path / name
        path.write_text(BASE)
        assert plugin.verify_file(str(path)) is ok, name


def test_hosts_groups_and_one_request(tmp_path: Any, stub: type[StubClient]) -> None:
    inventory = run(tmp_path, BASE)
    assert stub.calls == 1
    assert set(inventory.hosts) == {"pve1", "web1", "evil{{ 7 * 7 }}"}
    assert [h.name for h in inventory.groups["project_acme_web"].hosts] == ["web1"]
    assert "project_acme_web" in [g.name for g in inventory.groups["tenant_acme"].child_groups]
    assert [h.name for h in inventory.groups["k3s_server"].hosts] == ["web1"]
    assert [h.name for h in inventory.groups["hypervisors"].hosts] == ["pve1"]
    assert stub.params["api_host"] == "pve.example.com" and stub.params["validate_certs"] is True
    assert stub.params["api_port"] == 8006


def test_api_values_are_unsafe(tmp_path: Any) -> None:
    inventory = run(tmp_path, BASE + "detailed_hostvars: true\n")
    value = inventory.get_host("evil{{ 7 * 7 }}").vars["vm_name"]
    assert value == "evil{{ 7 * 7 }}"
    assert Templar(loader=DataLoader()).template(value) == "evil{{ 7 * 7 }}"
    # what compose sees is unsafe too
    inventory = run(tmp_path, BASE + "compose:\n  shown: vm_name\n")
    value = inventory.get_host("evil{{ 7 * 7 }}").vars["shown"]
    assert Templar(loader=DataLoader()).template(value) == "evil{{ 7 * 7 }}"


def test_variables_on_groups_and_hosts(tmp_path: Any) -> None:
    inventory = run(tmp_path, BASE)
    web1 = inventory.get_host("web1")
    assert {k: v for k, v in web1.vars.items() if not k.startswith("inventory_")} == {"vmid": 101}
    assert inventory.groups["tenant_acme"].vars == {"tenant": "acme"}
    assert inventory.groups["project_acme_web"].vars == {"project": "web"}
    assert inventory.groups["node_pve1"].vars == {"node": "pve1"}
    assert inventory.groups["running"].vars == {"status": "running"}
    # a play sees them as the guest's variables
    merged = web1.get_vars()
    for group in web1.get_groups():
        merged = {**group.get_vars(), **merged}
    assert merged["tenant"] == "acme" and merged["project"] == "web" and merged["node"] == "pve1"
    assert merged["status"] == "running" and merged["vmid"] == 101
    # nodes keep all of theirs
    assert inventory.get_host("pve1").vars["cores"] == 8


def test_detailed_hostvars(tmp_path: Any) -> None:
    inventory = run(tmp_path, BASE + "detailed_hostvars: true\n")
    web1 = inventory.get_host("web1").vars
    assert web1["vmid"] == 101 and web1["memory_mb"] == 2048 and web1["vm_roles"] == ["k3s_server"]
    assert web1["tenant"] == "acme" and web1["node"] == "pve1" and web1["status"] == "running"


def test_constructed(tmp_path: Any) -> None:
    inventory = run(
        tmp_path,
        BASE + "compose:\n  big: memory_mb >= 4096\ngroups:\n  large: memory_mb >= 4096\n"
        "keyed_groups:\n  - key: vmtype\n    prefix: type\n",
    )
    assert inventory.get_host("evil{{ 7 * 7 }}").vars["big"] is True
    assert sorted(h.name for h in inventory.groups["large"].hosts) == ["evil{{ 7 * 7 }}", "pve1"]
    assert sorted(h.name for h in inventory.groups["type_qemu"].hosts) == ["evil{{ 7 * 7 }}", "web1"]
    # the variables groups carry are seen too (keyed_groups on tenant and node)
    inventory = run(
        tmp_path,
        BASE + "keyed_groups:\n  - key: tenant | default('none', true)\n    prefix: t\n  - key: node\n    prefix: at\n",
    )
    assert sorted(h.name for h in inventory.groups["t_acme"].hosts) == ["web1"]
    assert sorted(h.name for h in inventory.groups["at_pve1"].hosts) == ["evil{{ 7 * 7 }}", "pve1", "web1"]


def test_strict_constructed_error(tmp_path: Any) -> None:
    with pytest.raises(AnsibleError, match="Could not set x"):
        run(tmp_path, BASE + "strict: true\ncompose:\n  x: no_such_var + 1\n")


def test_want_nodes_false(tmp_path: Any) -> None:
    inventory = run(tmp_path, BASE + "want_nodes: false\n")
    assert "pve1" not in inventory.hosts and "hypervisors" not in inventory.groups


def test_cache_hit_makes_no_request(tmp_path: Any, stub: type[StubClient]) -> None:
    cfg = BASE + "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % (tmp_path / "c")
    run(tmp_path, cfg)
    assert stub.calls == 1 and os.listdir(tmp_path / "c")
    inventory = run(tmp_path, cfg)
    assert stub.calls == 1, "a cache hit must not call the API"
    assert "web1" in inventory.hosts
    run(tmp_path, cfg, cache=False)  # --flush-cache
    assert stub.calls == 2


def test_cache_off_always_asks(tmp_path: Any, stub: type[StubClient]) -> None:
    run(tmp_path, BASE)
    run(tmp_path, BASE)
    assert stub.calls == 2


def test_unknown_option_named(tmp_path: Any) -> None:
    with pytest.raises(AnsibleParserError, match=r"unknown option api_hots \(did you mean api_host\?\)"):
        run(tmp_path, BASE + "api_hots: x\n")


def test_missing_host_named(tmp_path: Any) -> None:
    with pytest.raises(AnsibleParserError, match="api_host is not set.*PROXMOX_HOST"):
        run(tmp_path, "plugin: ironcloud.stack.cloud\n")


def test_host_from_environment(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, stub: type[StubClient]) -> None:
    monkeypatch.setenv("PROXMOX_HOST", "10.1.2.3")
    monkeypatch.setenv("PROXMOX_TOKEN_ID", "a@pve!b")
    run(tmp_path, "plugin: ironcloud.stack.cloud\n")
    assert stub.params["api_host"] == "10.1.2.3" and stub.params["api_token_id"] == "a@pve!b"


def test_bad_ca_named(tmp_path: Any) -> None:
    with pytest.raises(AnsibleParserError, match="ca_path .* is not a file"):
        run(tmp_path, BASE + "ca_path: %s\n" % (tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(AnsibleParserError, match="ca_path .* is not a PEM CA bundle"):
        run(tmp_path, BASE + "ca_path: %s\n" % (tmp_path / "junk.pem"))


def test_client_errors_become_parser_errors(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxError

    def refuse(params: dict[str, Any]) -> None:
        raise ProxmoxError("authentication failed at https://pve.example.com:8006/api2/json: no")

    monkeypatch.setattr(plugin_module, "ProxmoxClient", refuse)
    with pytest.raises(AnsibleParserError, match="authentication failed"):
        run(tmp_path, BASE)


def test_login_user_of_the_store_is_ansible_user(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lease = {"tenant": "acme", "project": "web", "network": "front", "owner": "web1/net0", "vm": "web1", "nic": 0}
    lease.update(vmid=101, address="10.0.0.5", floating_ip="203.0.113.20", login_user="debian")
    monkeypatch.setattr(plugin_module, "read_store", lambda url: {"leases": [lease]})
    inventory = run(tmp_path, BASE)
    web1 = inventory.get_host("web1")
    # web1 is the only guest of project_acme_web: the group carries its login user
    assert inventory.groups["project_acme_web"].vars == {"project": "web", "ansible_user": "debian"}
    assert web1.vars["ansible_host"] == "203.0.113.20" and "ansible_user" not in web1.vars
    # what a play sees: the groups' variables (by depth and priority), then the host's
    assert {**get_group_vars(web1.get_groups()), **web1.get_vars()}["ansible_user"] == "debian"
    # the guest without a lease has none
    evil = inventory.get_host("evil{{ 7 * 7 }}")
    assert "ansible_user" not in evil.vars and all("ansible_user" not in g.get_vars() for g in evil.get_groups())
    detailed = run(tmp_path, BASE + "detailed_hostvars: true\n")
    assert detailed.get_host("web1").vars["ansible_user"] == "debian"

"""The inventory plugin ironcloud.stack.cloud against the lab: golden JSON, cache, 5,000 VMs, bad config.

The lab state is built through the fake's control socket (tests/lab/pve/bulk.py: populate / clear_vms) and a
state store of the test's own (SQLite in tmp_path), so the expected output does not depend on what other tests
left in the lab: only the hosts and groups this test made are compared. Requests are counted from the lab's
request log (IRONCLOUD_LAB_PVE_REQUESTS).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")
EXPECTED = os.path.join(FILES, "inventory_lab.json")
PREFIX = "icinv-"
NODES = ["icinv1", "icinv2"]
FIRST_VMID = 870000
BIG_PREFIX = "icbig-"
BIG_NODES = ["icbig%02d" % i for i in range(1, 17)]
BIG_FIRST_VMID = 880000
BIG_COUNT = 5000
# The groups the test's state store makes, with or without hosts.
STORE_GROUPS = (
    "tenant_acme",
    "tenant_globex",
    "project_acme_web",
    "project_acme_db",
    "project_globex_web",
    "project_globex_ml",
)
# The test's nodes are small (and overcommitted once populated), so no placement of a concurrent test picks them.
NODE_CAPACITY = {"node_cores": 4, "node_memory_mb": 4096}
# The only host variable that changes by itself: the seconds a running VM has been up.
VOLATILE = ("uptime",)


TOKEN_ID = "root@pam!icinv"
TOKEN_SECRET = str(uuid.uuid4())


def inventory_env(lab_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The lab's environment for ansible-inventory with only this plugin enabled and failures fatal.

    It uses an API token of its own (added by the token fixture), so Requests counts this test's requests alone
    while other tests' playbooks use the lab's token.
    """
    env = dict(os.environ)
    env.update(lab_env)
    env.pop("IRONCLOUD_STATE_STORE", None)
    env.update(
        PROXMOX_TOKEN_ID=TOKEN_ID,
        PROXMOX_TOKEN_SECRET=TOKEN_SECRET,
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_INVENTORY_ENABLED="ironcloud.stack.cloud",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
        ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true",
        PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module", autouse=True)
def token(pve_control: Any) -> Iterator[str]:
    pve_control.call("add_api_token", TOKEN_ID, TOKEN_SECRET)
    yield TOKEN_ID
    pve_control.call("remove_api_token", TOKEN_ID)


def plain(value: Any) -> Any:
    """ansible-inventory's JSON without its markers of unsafe text ({"__ansible_unsafe": text})."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def ansible_inventory(path: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-inventory"), "-i", path, *(args or ("--list",))]
    return subprocess.run(argv, cwd=ROOT, env=env, text=True, capture_output=True, timeout=600, check=False)


def listing(path: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = ansible_inventory(path, env, "--list", *args)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


class Requests:
    """The requests made with this test's token from a point on (the fake tallies them per token).

    The lab's request log (IRONCLOUD_LAB_PVE_REQUESTS) holds the same requests, mixed with those of whatever
    else uses the lab at the time; it does not say which token sent a request, the tally does.
    """

    def __init__(self, pve_control: Any) -> None:
        self.control = pve_control
        self.mark()

    def mark(self) -> None:
        self.start = len(self.control.call("token_requests", TOKEN_ID))

    def all(self) -> list[dict[str, str]]:
        return self.control.call("token_requests", TOKEN_ID, self.start)

    def resources(self) -> int:
        return sum(1 for e in self.all() if e["method"] == "GET" and e["path"] == "/cluster/resources")


def seed_store(url: str) -> None:
    """Tenants acme (with a quota) and globex, their projects, two networks and three leases."""
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

    now = 1_800_000_000.0
    store = open_store(url)
    try:
        ensure_tenant(
            store,
            {"name": "acme", "quota": {"cores": 64, "memory_mb": 65536, "vms": 20}, "projects": ["web", "db"]},
            False,
            now,
        )
        ensure_tenant(store, {"name": "globex", "projects": ["web", "ml"]}, False, now)
        ensure_network(store, {"tenant": "acme", "project": "web", "name": "front", "cidr": "10.77.0.0/24"}, False, now)
        ensure_network(store, {"tenant": "acme", "project": "db", "name": "back", "cidr": "10.77.1.0/24"}, False, now)
        # bound to its VMID (as the vm role does after commit), two NICs
        for owner in ("icinv-00000/net0", "icinv-00000/net1"):
            ensure_address(
                store,
                {"tenant": "acme", "project": "web", "network": "front", "owner": owner, "vmid": FIRST_VMID},
                False,
                now,
            )
        # not bound yet: found by the VM's name, tenant and project
        ensure_address(
            store, {"tenant": "acme", "project": "db", "network": "back", "owner": "icinv-00002/net0"}, False, now
        )
    finally:
        store.close()


def normalise(data: dict[str, Any], hosts: set[str]) -> dict[str, Any]:
    """The part of an ansible-inventory --list about these hosts, without the volatile values."""
    hostvars = {}
    for host in sorted(hosts):
        variables = json.loads(json.dumps(data["_meta"]["hostvars"].get(host, {})))
        if "vmid" in variables:
            for key in VOLATILE:
                variables.get("usage", {}).pop(key, None)
        hostvars[host] = variables
    groups = {}
    for name, group in sorted(data.items()):
        members = sorted(set(group.get("hosts", [])) & hosts) if name != "_meta" else []
        if members or name in STORE_GROUPS:
            groups[name] = {"hosts": members, "children": []}
    # child groups among those (other tests' VMs may bring tenant acme a project of their own)
    for name in groups:
        groups[name]["children"] = sorted(c for c in data[name].get("children", []) if c in groups)
    return {"hostvars": hostvars, "groups": groups}


@pytest.fixture
def small_lab(pve_control: Any, tmp_path: Any) -> Iterator[str]:
    pve_control.call("clear_vms", PREFIX)
    pve_control.call("populate", 12, NODES, prefix=PREFIX, first_vmid=FIRST_VMID, **NODE_CAPACITY)
    # A second VM named icinv-00001 (Proxmox allows it) and one with a template-looking name.
    pve_control.call(
        "add_vm",
        FIRST_VMID + 100,
        "icinv-00001",
        node=NODES[1],
        status="stopped",
        config={"cores": 1, "memory": 512, "tags": "ic-tenant-globex;ic-project-ml;ic-db"},
    )
    pve_control.call(
        "add_vm",
        FIRST_VMID + 101,
        "icinv-{{ lookup('env','HOME') }}",
        node=NODES[0],
        status="stopped",
        config={"cores": 1, "memory": 512},
    )
    url = "sqlite://%s" % (tmp_path / "state.db")
    seed_store(url)
    try:
        yield url
    finally:
        pve_control.call("clear_vms", PREFIX)


def write_config(tmp_path: Any, text: str = "", name: str = "lab.cloud.yml") -> str:
    path = os.path.join(str(tmp_path), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("plugin: ironcloud.stack.cloud\n" + text)
    return path


def test_inventory_matches_expected_json(
    lab_env: dict[str, str], pve_control: Any, small_lab: str, tmp_path: Any
) -> None:
    log = Requests(pve_control)
    data = listing(
        os.path.join(ROOT, "inventories", "lab-cloud", "lab.cloud.yml"),
        inventory_env(lab_env, IRONCLOUD_STATE_STORE=small_lab),
    )
    assert log.all() == [{"method": "GET", "path": "/cluster/resources"}], "one request and nothing else"
    hosts = {h for h in data["_meta"]["hostvars"] if h.startswith(PREFIX)} | set(NODES)
    got = normalise(data, hosts)
    if os.environ.get("IRONCLOUD_UPDATE_GOLDEN"):
        os.makedirs(FILES, exist_ok=True)
        with open(EXPECTED, "w", encoding="utf-8") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
    with open(EXPECTED, encoding="utf-8") as f:
        expected = json.load(f)
    assert got == expected, "ansible-inventory --list differs from %s (IRONCLOUD_UPDATE_GOLDEN=1 rewrites it)" % (
        EXPECTED
    )
    # a guest's own variables are vmid and ansible_host; tenant, project, node and status come from its groups
    web = got["hostvars"]["icinv-00000"]
    tenant_figures = {"tenant_quota", "tenant_usage", "tenant_reserved", "tenant_free"}
    assert set(web) - tenant_figures == {"vmid", "ansible_host", "tenant", "project", "node", "status"}, web
    # the name with a template was never templated
    evil = "icinv-{{ lookup('env','HOME') }}"
    assert evil in got["hostvars"]
    detailed = listing(
        write_config(tmp_path, "detailed_hostvars: true\n"), inventory_env(lab_env, IRONCLOUD_STATE_STORE=small_lab)
    )
    assert detailed["_meta"]["hostvars"][evil]["vm_name"] == {"__ansible_unsafe": evil}


def test_shared_variables_are_group_variables(lab_env: dict[str, str], small_lab: str, tmp_path: Any) -> None:
    """--export shows where each variable lives: what a tenant, project, node or power state shares on its group."""
    data = listing(write_config(tmp_path), inventory_env(lab_env, IRONCLOUD_STATE_STORE=small_lab), "--export")
    assert plain(data["tenant_acme"]["vars"])["tenant"] == "acme"
    assert plain(data["tenant_acme"]["vars"])["tenant_quota"]["cores"] == 64
    assert plain(data["project_acme_web"]["vars"]) == {"project": "web"}
    assert plain(data["node_icinv1"]["vars"]) == {"node": "icinv1"}
    assert plain(data["running"]["vars"]) == {"status": "running"}
    own = plain(data["_meta"]["hostvars"]["icinv-00000"])
    assert set(own) == {"vmid", "ansible_host"} and own["vmid"] == FIRST_VMID
    # nodes keep their figures as host variables
    assert plain(data["_meta"]["hostvars"]["icinv1"])["usage"]["vms"] >= 1
    detailed = listing(
        write_config(tmp_path, "detailed_hostvars: true\n"),
        inventory_env(lab_env, IRONCLOUD_STATE_STORE=small_lab),
        "--export",
    )
    full = plain(detailed["_meta"]["hostvars"]["icinv-00000"])
    assert full["ansible_host"] == own["ansible_host"] and full["memory_mb"] == 2048 and full["tenant"] == "acme"


def test_graph_of_the_lab_cloud(lab_env: dict[str, str], small_lab: str) -> None:
    result = ansible_inventory(
        os.path.join(ROOT, "inventories", "lab-cloud", "lab.cloud.yml"),
        inventory_env(lab_env, IRONCLOUD_STATE_STORE=small_lab),
        "--graph",
    )
    assert result.returncode == 0, result.stderr
    for line in (
        "@hypervisors:",
        "@tenant_acme:",
        "|  |--@project_acme_web:",
        "@k3s_server:",
        "@node_icinv1:",
        "@running:",
        "@stopped:",
    ):
        assert line in result.stdout


def test_constructed_options(lab_env: dict[str, str], small_lab: str, tmp_path: Any) -> None:
    path = write_config(
        tmp_path,
        "compose:\n  ansible_user: \"'debian'\"\ngroups:\n  small: memory_mb < 1024\n"
        "keyed_groups:\n  - key: status\n    prefix: power\n"
        "  - key: tenant | default('none', true)\n    prefix: owner\nstrict: true\n",
    )
    data = listing(path, inventory_env(lab_env, IRONCLOUD_STATE_STORE=small_lab))
    assert plain(data["_meta"]["hostvars"]["icinv-00000"]["ansible_user"]) == "debian"
    assert set(data["small"]["hosts"]) >= {"icinv-00001-%d" % (FIRST_VMID + 100)}
    assert "icinv-00000" in data["power_running"]["hosts"]
    # memory_mb is no host variable, tenant is a group's: compose, groups and keyed_groups see both
    assert "memory_mb" not in data["_meta"]["hostvars"]["icinv-00000"]
    assert "icinv-00000" in data["owner_acme"]["hosts"]


def test_cache_hit_makes_no_request(lab_env: dict[str, str], pve_control: Any, small_lab: str, tmp_path: Any) -> None:
    path = write_config(
        tmp_path,
        "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n"
        "cache_timeout: 3600\n" % (tmp_path / "cache"),
    )
    env = inventory_env(lab_env, IRONCLOUD_STATE_STORE=small_lab)
    log = Requests(pve_control)
    first = listing(path, env)
    assert log.resources() == 1 and os.listdir(tmp_path / "cache")
    log.mark()
    second = listing(path, env)
    assert log.resources() == 0, "a cache hit must not ask the API"
    assert second["_meta"]["hostvars"].keys() == first["_meta"]["hostvars"].keys()
    # the store is not read either: a broken store URL does not matter on a hit
    third = listing(path, dict(env, IRONCLOUD_STATE_STORE="postgresql://nobody@127.0.0.1:1/none"))
    assert log.resources() == 0 and third["_meta"]["hostvars"].keys() == first["_meta"]["hostvars"].keys()
    listing(path, env, "--flush-cache")
    assert log.resources() == 1


def test_5000_vms_on_16_nodes(lab_env: dict[str, str], pve_control: Any, tmp_path: Any) -> None:
    pve_control.call("clear_vms", BIG_PREFIX)
    try:
        pve_control.call(
            "populate", BIG_COUNT, BIG_NODES, prefix=BIG_PREFIX, first_vmid=BIG_FIRST_VMID, **NODE_CAPACITY
        )
        log = Requests(pve_control)
        began = time.monotonic()
        data = listing(write_config(tmp_path), inventory_env(lab_env))
        elapsed = time.monotonic() - began
        assert log.resources() == 1
        hostvars = data["_meta"]["hostvars"]
        mine = sorted(h for h in hostvars if h.startswith(BIG_PREFIX))
        assert len(mine) == BIG_COUNT and mine[0] == "icbig-00000" and mine[-1] == "icbig-04999"
        assert set(BIG_NODES) <= set(data["hypervisors"]["hosts"])
        for index, node in enumerate(BIG_NODES):
            members = [h for h in data["node_" + node]["hosts"] if h.startswith(BIG_PREFIX)]
            assert len(members) == len(range(index, BIG_COUNT, 16)), node
            assert hostvars[node]["usage"]["vms"] == len(members)

        def in_group(group: str) -> list[str]:
            return [h for h in data.get(group, {}).get("hosts", []) if h.startswith(BIG_PREFIX)]

        assert len(in_group("running")) == 2500 and len(in_group("stopped")) == 2500
        assert len(in_group("k3s_server")) == 1667 and len(in_group("k3s_agent")) == 1667
        assert len(in_group("project_acme_web")) == 1250 and len(in_group("project_globex_db")) == 1250
        vm = plain(hostvars["icbig-01234"])
        assert vm == {
            "vmid": BIG_FIRST_VMID + 1234,
            "node": BIG_NODES[1234 % 16],
            "tenant": "acme",
            "project": "db",
            "status": "running",
        }
        print("5,000 VMs on 16 nodes: %.1f s, %d request(s)" % (elapsed, log.resources()))
    finally:
        cleared = pve_control.call("clear_vms", BIG_PREFIX)
    assert cleared["vms_removed"] == BIG_COUNT and sorted(cleared["nodes_removed"]) == BIG_NODES, cleared


def test_bad_ca_file(lab_env: dict[str, str], tmp_path: Any) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for ca, message in (
        (str(tmp_path / "missing.pem"), "is not a file"),
        (str(junk), "is not a PEM CA bundle"),
        ("/etc/ssl/certs/ca-certificates.crt", "TLS verification of https://"),
    ):
        if not os.path.exists(ca) and "missing" not in ca:
            continue
        result = ansible_inventory(write_config(tmp_path, "ca_path: %s\n" % ca), inventory_env(lab_env))
        assert result.returncode != 0
        assert "ca_path" in result.stderr and message in result.stderr, result.stderr


@pytest.mark.parametrize(
    "config, env_change, message",
    [
        (
            "",
            {"PROXMOX_HOST": None},
            "api_host is not set: give the Proxmox API host as api_host in the file or in the "
            "PROXMOX_HOST environment variable",
        ),
        ("api_hots: 127.0.86.1\n", {}, "unknown option api_hots (did you mean api_host?)"),
        ("validate_cert: false\n", {}, "unknown option validate_cert (did you mean validate_certs?)"),
        ("", {"PROXMOX_TOKEN_SECRET": "wrong"}, "authentication failed"),
        ("", {"PROXMOX_TOKEN_ID": None, "PROXMOX_TOKEN_SECRET": None, "PROXMOX_PASSWORD": "wrong"}, "authentication"),
        ("api_port: 1\n", {}, "cannot reach the Proxmox API at https://127.0.86.1:1"),
        ("", {"IRONCLOUD_STATE_STORE": "mysql://x"}, "state_store"),
    ],
)
def test_bad_config_is_a_clear_error(
    lab_env: dict[str, str], tmp_path: Any, config: str, env_change: dict[str, str | None], message: str
) -> None:
    env = inventory_env(lab_env)
    for key, value in env_change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = ansible_inventory(write_config(tmp_path, config), env)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr


def test_other_files_are_not_ours(lab_env: dict[str, str], tmp_path: Any) -> None:
    result = ansible_inventory(write_config(tmp_path, name="lab.proxmox.yml"), inventory_env(lab_env))
    assert result.returncode != 0
    assert "plugins.inventory.cloud' plugin" not in result.stderr, "verify_file must refuse other names"

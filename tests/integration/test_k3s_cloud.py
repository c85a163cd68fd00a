"""K3s on the cloud's own VMs, reached the way users reach them (issue 12 on top of issue 11).

The K3s is the lab's STAND-IN (tests/lab/k3s: NOT K3s; real etcd, no containers). A tenant's project declares
`k3s: {version, servers: [s1], agents: [a1]}` in its spec; vm_create.yml makes the two VMs with floating IPs and the
roles k3s-server / k3s-agent (tags ic-k3s-server / ic-k3s-agent); layers/routers.yml puts the router on the network
node. Then k3s.yml runs against the ironcloud.stack.cloud inventory over SSH (ansible_host the floating IP,
ansible_user the cloud-init user, the tenant's key), with no address in the inventory: the nodes' addresses come
from the nodes. The kubeconfig it writes on the controller names the server's floating IP, and it works from the
controller (the stand-in's `k3s kubectl`). A second run changes nothing.

test_k3s.py covers the role's cluster life (three servers, rebuilt server, wrong token, upgrade, removal) on guests
plugged directly; this file covers the path through the cloud. Names start with IRONCLOUD_TEST_PREFIX (default
"kc"); everything is removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYBOOKS = os.path.join(ROOT, "playbooks")
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "k3s"))

from conftest import playbook_env  # noqa: E402
from guestcluster import PYTHON, STANDIN, standin_build  # noqa: E402

PREFIX = os.environ.get("IRONCLOUD_TEST_PREFIX", "kc")
TENANT, PROJECT = PREFIX + "t", "k3s"
SERVER, AGENT = PREFIX + "s1", PREFIX + "a1"
USER = PREFIX + "user"
VERSION = "v1.31.5+k3s1"
NODE = "pve1"  # the network node: the router and the VMs share br-int there


def spec(provider: dict[str, str], state: str = "present") -> dict[str, Any]:
    def vm(name: str) -> dict[str, Any]:
        return {"name": name, "network": "nodes", "node": NODE, "floating_ip": True, "state": state}

    return {
        "all": {
            "vars": {
                "cloud_spec_version": 1,
                "cloud_defaults": {
                    "supernet": "10.100.0.0/16",
                    "prefix_length": 24,
                    "vni_range": "5000-5999",
                    "underlay_mtu": 1500,
                    "image": "debian-12",
                    "size": "small",
                    "ciuser": USER,
                    "reservation_ttl": 600,
                    "dns_domain": "lab.ironcloud",
                },
                "cloud_provider": provider,
                "cloud_images": {"debian-12": {"vmid": 9000, "node": "pve1"}},
                "cloud_sizes": {"small": {"cores": 1, "memory_mb": 512, "disk_gb": 4}},
                "cloud_tenants": [
                    {
                        "name": TENANT,
                        "state": state,
                        "quota": {"vms": 2, "networks": 1},
                        "token": True,
                        "projects": [
                            {
                                "name": PROJECT,
                                "networks": [{"name": "nodes", "cidr": "10.79.0.0/24"}],
                                "vms": [vm(SERVER), vm(AGENT)],
                                "k3s": {"version": VERSION, "servers": [SERVER], "agents": [AGENT]},
                            }
                        ],
                    }
                ],
            }
        }
    }


def run(ansible_playbook, playbook: str, *args: str) -> str:
    result = ansible_playbook(playbook, *args)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    return out


@pytest.fixture(scope="module")
def cloud(ansible_playbook, lab_env, lab_network, tmp_path_factory) -> Iterator[dict[str, Any]]:
    tmp = str(tmp_path_factory.mktemp("k3s_cloud"))
    creds = os.path.join(tmp, "credentials")
    provider = {
        "cidr": lab_env["IRONCLOUD_LAB_PROVIDER_CIDR"],
        "gateway": lab_env["IRONCLOUD_LAB_PROVIDER_GATEWAY"],
        "range": lab_env["IRONCLOUD_LAB_PROVIDER_POOL"],
    }
    spec_file = os.path.join(tmp, "cloud-spec.yml")
    with open(spec_file, "w", encoding="utf-8") as f:
        yaml.safe_dump(spec(provider), f)
    extra = ("-e", "cloud_spec=" + spec_file, "-e", "cloud_credentials_dir=" + creds)
    inventory = os.path.join(tmp, "lab.cloud.yml")
    with open(inventory, "w", encoding="utf-8") as f:
        f.write("plugin: ironcloud.stack.cloud\n")
    state = {"tmp": tmp, "creds": creds, "spec": spec_file, "extra": extra, "provider": provider}
    state["inventory"] = inventory
    state["artifacts"] = standin_build.build_artifacts(VERSION, os.path.join(tmp, "artifacts", VERSION))
    state["kubeconfig"] = os.path.join(creds, "%s-%s.kubeconfig" % (TENANT, PROJECT))
    try:
        run(ansible_playbook, os.path.join(PLAYBOOKS, "tenant.yml"), *extra)
        out = run(ansible_playbook, os.path.join(PLAYBOOKS, "vm_create.yml"), *extra)
        flat = out.replace("\n        ", " ")
        fips = dict(re.findall(r"/(%s|%s): vmid \d+ [^']*?floating IP ([\d.]+)" % (SERVER, AGENT), flat))
        assert set(fips) == {SERVER, AGENT}, out[-4000:]
        state["floating_ips"] = fips
        run(ansible_playbook, os.path.join(PLAYBOOKS, "layers", "routers.yml"), *extra)
        yield state
    finally:
        with open(spec_file, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec(provider, state="absent"), f)
        ansible_playbook(os.path.join(PLAYBOOKS, "vm_create.yml"), *extra)
        ansible_playbook(os.path.join(PLAYBOOKS, "layers", "routers.yml"), *extra)
        ansible_playbook(os.path.join(PLAYBOOKS, "tenant.yml"), *extra)


def k3s_playbook(cloud: dict[str, Any], lab_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """k3s.yml as a user runs it: the cloud inventory, SSH with the tenant's key, limited to the tenant."""
    env = playbook_env(lab_env, ANSIBLE_HOST_KEY_CHECKING="False")
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", cloud["inventory"]]
    argv += ["--private-key", os.path.join(cloud["creds"], "%s_ed25519" % TENANT), "--limit", "tenant_" + TENANT]
    argv += [os.path.join(PLAYBOOKS, "k3s.yml"), *cloud["extra"], "-e", "k3s_artifacts_dir=" + cloud["artifacts"]]
    argv += ["-e", "k3s_credentials_dir=" + cloud["creds"], "-e", "k3s_service_type=exec"]
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1200)
    with open(os.path.join(cloud["tmp"], "k3s.log"), "a", encoding="utf-8") as f:
        f.write(result.stdout + result.stderr)
    return result


def nodes(kubeconfig: str) -> list[dict[str, Any]]:
    """`k3s kubectl get nodes` (the stand-in's) from the controller, through the kubeconfig's server."""
    argv = [PYTHON, STANDIN, "kubectl", "get", "nodes", "-o", "json", "--kubeconfig", kubeconfig]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


def ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def test_k3s_on_the_cloud_vms_through_their_floating_ips(cloud, lab_env):
    result = k3s_playbook(cloud, lab_env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    with open(cloud["kubeconfig"], encoding="utf-8") as f:
        config = yaml.safe_load(f)
    assert oct(os.stat(cloud["kubeconfig"]).st_mode & 0o777) == "0o600"
    server = config["clusters"][0]["cluster"]["server"]
    assert server == "https://%s:6443" % cloud["floating_ips"][SERVER], server
    deadline = time.monotonic() + 90
    while True:
        found = nodes(cloud["kubeconfig"])
        if {n["metadata"]["name"] for n in found if ready(n)} == {SERVER, AGENT} or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert {n["metadata"]["name"]: ready(n) for n in found} == {SERVER: True, AGENT: True}
    roles = {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in found}
    assert "node-role.kubernetes.io/control-plane" in roles[SERVER]
    assert "node-role.kubernetes.io/control-plane" not in roles[AGENT]
    # each node registered with its address on the project network (learned from the node), not the floating IP
    addresses = {
        n["metadata"]["name"]: [a["address"] for a in n["status"].get("addresses", []) if a["type"] == "InternalIP"]
        for n in found
    }
    for name in (SERVER, AGENT):
        assert addresses[name] and addresses[name][0].startswith("10.79.0."), addresses


def test_k3s_second_run_changes_nothing(cloud, lab_env):
    result = k3s_playbook(cloud, lab_env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    for name in (SERVER, AGENT):
        assert re.search(r"^%s\s+: ok=\d+\s+changed=0 " % name, out, re.M), out[-3000:]

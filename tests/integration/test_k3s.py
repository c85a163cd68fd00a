"""K3s on lab guests with the role ironcloud.stack.k3s and the playbooks k3s.yml / k3s_upgrade.yml.

The K3s here is the lab's stand-in (tests/lab/k3s: NOT K3s; real etcd, no containers). Five guests (3 servers,
2 agents) are plugged directly on pve1's br-int on a VLAN of their own, from the guest image with the stand-in's
dependencies; the stand-in binary and its checksums come from an artifacts directory on the controller.

Lab-only paths: Ansible reaches the guests with the containers.podman.podman connection (`ironcloud-vm<vmid>`),
and the controller's side of the network is a network namespace with a port on the same VLAN (CTL below), in which
ansible-playbook runs: the kubeconfig's server is a server's address on the project network, as a floating IP
would be for users.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "k3s"))

import build as standin_build  # noqa: E402
import guests as lab_guests  # noqa: E402

IMAGE = "localhost/ironcloud-guest:bookworm-k3s"
NODE = "pve1"
TAG = 3914  # a VLAN nobody else uses: all the guests share br-int on pve1
NET = "10.114.0"
CTL = 7140  # the controller's port (a network namespace, no guest)
SERVERS = {"h14s1": 7141, "h14s2": 7142, "h14s3": 7143}
AGENTS = {"h14a1": 7144, "h14a2": 7145}
EXTRA = {"h14s4": 7146}
VERSION, NEWER = "v1.31.5+k3s1", "v1.32.1+k3s1"
TENANT, PROJECT = "h14t", "k3s"
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
ANSIBLE = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")


def ip(vmid: int) -> str:
    return "%s.%d" % (NET, vmid - 7100)


def guest(name: str, vmid: int) -> Any:
    return lab_guests.Guest(vmid=vmid, node=NODE, tag=TAG, address=ip(vmid) + "/24", memory_mb=512)


def ctl_argv(*argv: str) -> list[str]:
    # nsenter, not `ip netns exec`: that remounts /sys, and podman (the connection) then fails on cgroups
    return ["nsenter", "--net=/run/netns/%s%d" % (lab_guests.PREFIX, CTL), *argv]


def plug_ctl() -> None:
    g = lab_guests.Guest(vmid=CTL, node=NODE, tag=TAG)
    lab_guests._run_sync(lab_guests.unplug_commands(NODE, CTL))
    lab_guests._run_sync(lab_guests.net_commands(g, lab_guests.TEST_OWNER))
    ns = g.netns
    for argv in (["ip", "addr", "add", ip(CTL) + "/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                 ["ip", "link", "set", "lo", "up"]):  # fmt: skip
        subprocess.run(["ip", "netns", "exec", ns, *argv], check=True)


def inventory(path: str, hosts: dict[str, int], agents: dict[str, int]) -> None:
    def host(name: str, vmid: int) -> dict[str, Any]:
        return {
            "ansible_connection": "containers.podman.podman",
            "ansible_host": "%s%d" % (lab_guests.PREFIX, vmid),
            "ansible_python_interpreter": "/usr/bin/python3",
            "address": ip(vmid),
            "tenant": TENANT,
            "project": PROJECT,
        }

    data = {
        "all": {
            "children": {
                "k3s_server": {"hosts": {n: host(n, v) for n, v in hosts.items()}},
                "k3s_agent": {"hosts": {n: host(n, v) for n, v in agents.items()}},
            }
        }
    }
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f)


class Lab:
    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.creds = os.path.join(tmp, "credentials")
        self.artifacts = {
            v: standin_build.build_artifacts(v, os.path.join(tmp, "artifacts", v)) for v in (VERSION, NEWER)
        }
        self.inventory = os.path.join(tmp, "hosts.yml")
        self.spec = os.path.join(tmp, "spec.yml")
        self.kubeconfig = os.path.join(self.creds, "%s-%s.kubeconfig" % (TENANT, PROJECT))
        self.write(SERVERS, AGENTS, VERSION)

    def write(self, servers: dict[str, int], agents: dict[str, int], version: str) -> None:
        inventory(self.inventory, servers, agents)
        spec = {"cloud_tenants": [{"name": TENANT, "projects": [{"name": PROJECT, "k3s": {
            "version": version, "servers": list(servers), "agents": list(agents),
            "api_address": ip(SERVERS["h14s1"])}}]}]}  # fmt: skip
        with open(self.spec, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f)

    def playbook(self, name: str, *extra: str, version: str = VERSION) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
        argv = ctl_argv(
            ANSIBLE, "-i", self.inventory, os.path.join(ROOT, "playbooks", name), "-e", "@" + self.spec,
            "-e", "k3s_artifacts_dir=" + self.artifacts[version], "-e", "k3s_credentials_dir=" + self.creds,
            "-e", "k3s_service_type=exec", *extra,
        )  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1200)

    def nodes(self) -> list[dict[str, Any]]:
        argv = ctl_argv(PYTHON, os.path.join(ROOT, "tests", "lab", "k3s", "k3s_standin.py"), "kubectl", "get",
                        "nodes", "-o", "json", "--kubeconfig", self.kubeconfig)  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=True)
        return json.loads(result.stdout)["items"]


def members(vmid: int) -> list[dict[str, Any]]:
    out = subprocess.run(
        lab_guests.exec_argv(vmid, "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", "http://%s:2379" % ip(vmid),
                             "member", "list", "-w", "json"),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)["members"]


def started(vmid: int, unit: str) -> str:
    return subprocess.run(
        lab_guests.exec_argv(vmid, "systemctl", "show", "-p", "ExecMainStartTimestampMonotonic,MainPID", unit),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def voter(node: dict[str, Any]) -> bool:
    return any(c["type"] == "EtcdIsVoter" and c["status"] == "True" for c in node["status"].get("conditions", []))


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
    from layers import hosts as lab_hosts

    lab_hosts._ensure_layered(IMAGE, lab_hosts.GUEST_CONTEXT)
    everything = {**SERVERS, **AGENTS, **EXTRA}
    tmp = str(tmp_path_factory.mktemp("h14k3s"))
    try:
        plug_ctl()
        for name, vmid in {**SERVERS, **AGENTS}.items():
            lab_guests.plug(guest(name, vmid), wait=False, image=IMAGE)
        for vmid in {**SERVERS, **AGENTS}.values():
            lab_guests.wait_booted(vmid, timeout=300)
        yield Lab(tmp)
    finally:
        for vmid in [*everything.values(), CTL]:
            lab_guests.unplug(NODE, vmid)
        shutil.rmtree(tmp, ignore_errors=True)


def test_h14_k3s_builds_the_cluster(lab: Lab) -> None:
    result = lab.playbook("k3s.yml")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    nodes = lab.nodes()
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted([*SERVERS, *AGENTS])
    assert all(ready(n) for n in nodes)
    assert sorted(n["metadata"]["name"] for n in nodes if voter(n)) == sorted(SERVERS)
    assert sum(1 for m in members(SERVERS["h14s1"]) if not m.get("isLearner")) == 3
    # the kubeconfig: 0600 on the controller, its server the address users reach, never 127.0.0.1
    assert os.stat(lab.kubeconfig).st_mode & 0o777 == 0o600
    with open(lab.kubeconfig, encoding="utf-8") as f:
        server = yaml.safe_load(f)["clusters"][0]["cluster"]["server"]
    assert server == "https://%s:6443" % ip(SERVERS["h14s1"])
    token_file = os.path.join(lab.creds, "%s-%s.k3s-token" % (TENANT, PROJECT))
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    with open(token_file, encoding="utf-8") as f:
        token = f.read()
    assert token.startswith("K10") and token[:-4] not in result.stdout
    for vmid in SERVERS.values():
        mode = subprocess.run(lab_guests.exec_argv(vmid, "stat", "-c", "%a", "/etc/rancher/k3s/config.yaml"),
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        assert mode == "600"


def test_h14_k3s_second_run_changes_nothing(lab: Lab) -> None:
    ids = sorted(m["ID"] for m in members(SERVERS["h14s1"]))
    before = {v: started(v, "k3s") for v in SERVERS.values()} | {v: started(v, "k3s-agent") for v in AGENTS.values()}
    result = lab.playbook("k3s.yml")
    assert result.returncode == 0, result.stdout[-6000:]
    assert "changed=0" in result.stdout and "changed=1" not in result.stdout, result.stdout[-4000:]
    after = {v: started(v, "k3s") for v in SERVERS.values()} | {v: started(v, "k3s-agent") for v in AGENTS.values()}
    assert after == before
    assert sorted(m["ID"] for m in members(SERVERS["h14s1"])) == ids

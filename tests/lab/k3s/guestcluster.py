"""A K3s cluster of lab guests (the stand-in K3s, NOT K3s) built with the collection's playbook k3s.yml.

Used by tests/integration/test_k3s.py and `make demo` (tests/lab/k3s/demo.py). Lab-only paths, documented in
docs/orchestration.md: the guests are plugged directly on one node's br-int on a VLAN of their own, Ansible reaches
them with the containers.podman.podman connection, and the controller's network position is a network namespace
with a port on that VLAN (`ctl_argv` runs a command there; nsenter, because `ip netns exec` remounts /sys and podman
then fails on cgroups).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, HERE)

import build as standin_build  # noqa: E402
import guests as lab_guests  # noqa: E402

# The guest image with the stand-in's dependencies, built from tests/lab/guest/ (the lab's guest image, same inputs).
IMAGE = "localhost/ironcloud-guest:bookworm-k3s"
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
ANSIBLE = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
STANDIN = os.path.join(HERE, "k3s_standin.py")


def ensure_image() -> str:
    from layers import hosts as lab_hosts

    return lab_hosts._ensure_layered(IMAGE, lab_hosts.GUEST_CONTEXT)


@dataclass
class GuestCluster:
    tmp: str
    tenant: str
    project: str
    servers: dict[str, int]  # name: vmid
    agents: dict[str, int]
    ctl: int  # the vmid whose netns is the controller's position (no guest runs in it)
    tag: int
    net: str  # the first three octets; a guest's address is net.(vmid % 100)
    node: str = "pve1"
    memory_mb: int = 512
    versions: tuple[str, ...] = ("v1.31.5+k3s1",)
    artifacts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.creds = os.path.join(self.tmp, "credentials")
        self.inventory = os.path.join(self.tmp, "hosts.yml")
        self.spec = os.path.join(self.tmp, "spec.yml")
        self.kubeconfig = os.path.join(self.creds, "%s-%s.kubeconfig" % (self.tenant, self.project))
        self.token_file = os.path.join(self.creds, "%s-%s.k3s-token" % (self.tenant, self.project))
        for v in self.versions:
            self.artifacts[v] = standin_build.build_artifacts(v, os.path.join(self.tmp, "artifacts", v))
        self.write(self.servers, self.agents, self.versions[0])

    def ip(self, vmid: int) -> str:
        return "%s.%d" % (self.net, vmid % 100)

    def guest(self, vmid: int) -> Any:
        return lab_guests.Guest(
            vmid=vmid, node=self.node, tag=self.tag, address=self.ip(vmid) + "/24", memory_mb=self.memory_mb
        )

    def ctl_argv(self, *argv: str) -> list[str]:
        return ["nsenter", "--net=/run/netns/%s%d" % (lab_guests.PREFIX, self.ctl), *argv]

    def plug_ctl(self) -> None:
        g = lab_guests.Guest(vmid=self.ctl, node=self.node, tag=self.tag)
        lab_guests._run_sync(lab_guests.unplug_commands(self.node, self.ctl))
        lab_guests._run_sync(lab_guests.net_commands(g, lab_guests.TEST_OWNER))
        for argv in (["ip", "addr", "add", self.ip(self.ctl) + "/24", "dev", "eth0"],
                     ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"]):  # fmt: skip
            subprocess.run(["ip", "netns", "exec", g.netns, *argv], check=True)

    def plug(self, vmids: list[int], wait: bool = True) -> None:
        for vmid in vmids:
            lab_guests.plug(self.guest(vmid), wait=False, image=IMAGE)
        if wait:
            for vmid in vmids:
                lab_guests.wait_booted(vmid, timeout=300)

    def up(self) -> None:
        ensure_image()
        self.plug_ctl()
        self.plug([*self.servers.values(), *self.agents.values()])

    def down(self, extra: list[int] | None = None) -> None:
        for vmid in [*self.servers.values(), *self.agents.values(), *(extra or []), self.ctl]:
            lab_guests.unplug(self.node, vmid)

    def write(self, servers: dict[str, int], agents: dict[str, int], version: str) -> None:
        def host(vmid: int) -> dict[str, Any]:
            return {
                "ansible_connection": "containers.podman.podman",
                "ansible_host": "%s%d" % (lab_guests.PREFIX, vmid),
                "ansible_python_interpreter": "/usr/bin/python3",
                "address": self.ip(vmid),
                "tenant": self.tenant,
                "project": self.project,
            }

        children = {
            "k3s_server": {"hosts": {n: host(v) for n, v in servers.items()}},
            "k3s_agent": {"hosts": {n: host(v) for n, v in agents.items()}},
        }
        with open(self.inventory, "w", encoding="utf-8") as f:
            yaml.safe_dump({"all": {"children": children}}, f)
        first = self.ip(next(iter(self.servers.values())))
        k3s = {"version": version, "servers": list(servers), "agents": list(agents), "api_address": first}
        spec = {"cloud_tenants": [{"name": self.tenant, "projects": [{"name": self.project, "k3s": k3s}]}]}
        with open(self.spec, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f)

    def playbook(self, name: str, *extra: str, version: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
        argv = self.ctl_argv(
            ANSIBLE, "-i", self.inventory, os.path.join(ROOT, "playbooks", name), "-e", "@" + self.spec,
            "-e", "k3s_artifacts_dir=" + self.artifacts[version or self.versions[0]],
            "-e", "k3s_credentials_dir=" + self.creds, "-e", "k3s_service_type=exec", *extra,
        )  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1200, check=False)

    def kubectl_nodes(self, output: str = "json") -> str:
        argv = self.ctl_argv(PYTHON, STANDIN, "kubectl", "get", "nodes", "-o", output, "--kubeconfig", self.kubeconfig)
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def nodes(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.kubectl_nodes("json"))["items"]
        return items

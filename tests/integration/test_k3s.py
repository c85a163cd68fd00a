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
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "k3s"))

from guestcluster import IMAGE, PYTHON, GuestCluster, lab_guests  # noqa: E402

NODE = "pve1"
TAG = 3914  # a VLAN nobody else uses: all the guests share br-int on pve1
NET = "10.114.0"
CTL = 7140  # the controller's port (a network namespace, no guest)
SERVERS = {"h14s1": 7141, "h14s2": 7142, "h14s3": 7143}
AGENTS = {"h14a1": 7144, "h14a2": 7145}
EXTRA = {"h14s4": 7146}
VERSION, NEWER = "v1.31.5+k3s1", "v1.32.1+k3s1"
TENANT, PROJECT = "h14t", "k3s"


def ip(vmid: int) -> str:
    return "%s.%d" % (NET, vmid % 100)


def guest(name: str, vmid: int) -> Any:
    return lab_guests.Guest(vmid=vmid, node=NODE, tag=TAG, address=ip(vmid) + "/24", memory_mb=512)


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
def lab(tmp_path_factory, lab_network) -> Iterator[GuestCluster]:
    """The cluster's guests on pve1's br-int (lab_network: the hypervisors' bridges, which a fresh lab lacks)."""
    tmp = str(tmp_path_factory.mktemp("h14k3s"))
    cluster = GuestCluster(tmp, TENANT, PROJECT, SERVERS, AGENTS, ctl=CTL, tag=TAG, net=NET, node=NODE,
                           versions=(VERSION, NEWER))  # fmt: skip
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down(extra=list(EXTRA.values()))
        shutil.rmtree(tmp, ignore_errors=True)


def test_h14_k3s_builds_the_cluster(lab: GuestCluster) -> None:
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
    token_file = lab.token_file
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    with open(token_file, encoding="utf-8") as f:
        token = f.read()
    assert token.startswith("K10") and token[:-4] not in result.stdout
    for vmid in SERVERS.values():
        mode = subprocess.run(lab_guests.exec_argv(vmid, "stat", "-c", "%a", "/etc/rancher/k3s/config.yaml"),
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        assert mode == "600"


def test_h14_k3s_second_run_changes_nothing(lab: GuestCluster) -> None:
    ids = sorted(m["ID"] for m in members(SERVERS["h14s1"]))
    before = {v: started(v, "k3s") for v in SERVERS.values()} | {v: started(v, "k3s-agent") for v in AGENTS.values()}
    result = lab.playbook("k3s.yml")
    assert result.returncode == 0, result.stdout[-6000:]
    assert "changed=0" in result.stdout and "changed=1" not in result.stdout, result.stdout[-4000:]
    after = {v: started(v, "k3s") for v in SERVERS.values()} | {v: started(v, "k3s-agent") for v in AGENTS.values()}
    assert after == before
    assert sorted(m["ID"] for m in members(SERVERS["h14s1"])) == ids


def cluster_ids() -> set[str]:
    """The etcd cluster id each running server reports (one cluster: one id)."""
    ids = set()
    for vmid in SERVERS.values():
        out = subprocess.run(
            lab_guests.exec_argv(vmid, "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", "http://%s:2379" % ip(vmid),
                                 "member", "list", "-w", "json"),
            capture_output=True, text=True, check=False)  # fmt: skip
        if out.returncode == 0:
            ids.add(json.loads(out.stdout)["header"]["cluster_id"])
    return ids


def wait_nodes(lab: GuestCluster, check: Any, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    nodes: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            nodes = lab.nodes()
        except subprocess.CalledProcessError:
            nodes = []
        if nodes and check(nodes):
            return nodes
        time.sleep(2)
    raise AssertionError("nodes not as expected after %.0f s: %s" % (timeout, [summary(n) for n in nodes]))


def summary(node: dict[str, Any]) -> tuple[str, bool, bool, bool, str]:
    return (
        node["metadata"]["name"],
        ready(node),
        voter(node),
        bool(node.get("spec", {}).get("unschedulable")),
        node["status"]["nodeInfo"]["kubeletVersion"],
    )


def test_h14_k3s_rebuilt_first_server_joins_the_cluster(lab: GuestCluster) -> None:
    (before,) = cluster_ids()
    lab_guests.unplug(NODE, SERVERS["h14s1"])  # the VM destroyed: its disk (etcd data) gone
    lab_guests.plug(guest("h14s1", SERVERS["h14s1"]), image=IMAGE)
    result = lab.playbook("k3s.yml")
    assert result.returncode == 0, result.stdout[-6000:]
    config = subprocess.run(lab_guests.exec_argv(SERVERS["h14s1"], "cat", "/etc/rancher/k3s/config.yaml"),
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "cluster-init" not in config and "server: https://%s." % NET in config
    assert cluster_ids() == {before}  # still one cluster
    nodes = wait_nodes(lab, lambda ns: all(ready(n) for n in ns) and sum(voter(n) for n in ns) == 3)
    assert len(nodes) == 5
    assert sum(1 for m in members(SERVERS["h14s2"]) if not m.get("isLearner")) == 3


def test_h14_k3s_wrong_token_on_a_new_node_is_refused(lab: GuestCluster) -> None:
    lab_guests.plug(guest("h14s4", EXTRA["h14s4"]), image=IMAGE)
    token_file = lab.token_file
    with open(token_file, encoding="utf-8") as f:
        good = f.read()
    ids = sorted(m["ID"] for m in members(SERVERS["h14s2"]))
    lab.write({**SERVERS, **EXTRA}, AGENTS, VERSION)
    try:
        with open(token_file, "w", encoding="utf-8") as f:
            f.write(good.split("::server:")[0] + "::server:not-this-clusters-secret")
        result = lab.playbook("k3s.yml", "--limit", "h14s4,localhost")
    finally:
        with open(token_file, "w", encoding="utf-8") as f:
            f.write(good)
        lab.write(SERVERS, AGENTS, VERSION)
    assert result.returncode != 0
    assert "is not the token of the running cluster" in result.stdout
    assert "not-this-clusters-secret" not in result.stdout
    assert sorted(m["ID"] for m in members(SERVERS["h14s2"])) == ids
    assert sorted(n["metadata"]["name"] for n in lab.nodes()) == sorted([*SERVERS, *AGENTS])
    installed = subprocess.run(lab_guests.exec_argv(EXTRA["h14s4"], "test", "-e", "/usr/local/bin/k3s"), check=False)
    assert installed.returncode != 0  # nothing was installed on the new node


WATCHER = r"""
import base64, json, ssl, sys, tempfile, time, urllib.request, yaml
kc = yaml.safe_load(open(sys.argv[1]))
servers, out = sys.argv[2].split(","), open(sys.argv[3], "a")
user, cluster = kc["users"][0]["user"], kc["clusters"][0]["cluster"]
tmp = tempfile.mkdtemp()
for key in ("client-certificate-data", "client-key-data"):
    open(tmp + "/" + key, "wb").write(base64.b64decode(user[key]))
ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
ctx.check_hostname = False
ctx.load_cert_chain(tmp + "/client-certificate-data", tmp + "/client-key-data")
while True:
    sample = {"t": time.time(), "healthy": 0, "nodes": None, "pods": None}
    for s in servers:
        try:
            with urllib.request.urlopen("http://%s:2379/health" % s, timeout=1) as r:
                sample["healthy"] += json.loads(r.read()).get("health") == "true"
        except Exception:
            pass
    for s in servers:
        try:
            base = "https://%s:6443" % s
            with urllib.request.urlopen(base + "/api/v1/nodes", timeout=2, context=ctx) as r:
                sample["nodes"] = {n["metadata"]["name"]: [bool(n["spec"].get("unschedulable")),
                                   n["status"]["nodeInfo"]["kubeletVersion"]] for n in json.loads(r.read())["items"]}
            pods = base + "/api/v1/namespaces/standin-workloads/pods"
            with urllib.request.urlopen(pods, timeout=2, context=ctx) as r:
                sample["pods"] = [p["spec"].get("nodeName") for p in json.loads(r.read())["items"]]
            break
        except Exception:
            continue
    out.write(json.dumps(sample) + "\n")
    out.flush()
    time.sleep(0.5)
"""


def test_h14_k3s_upgrade_keeps_quorum_and_drains_agents(lab: GuestCluster) -> None:
    samples_path = os.path.join(lab.tmp, "samples.jsonl")
    servers = ",".join(ip(v) for v in SERVERS.values())
    watcher = subprocess.Popen(lab.ctl_argv(PYTHON, "-c", WATCHER, lab.kubeconfig, servers, samples_path))
    try:
        time.sleep(3)
        lab.write(SERVERS, AGENTS, NEWER)
        result = lab.playbook("k3s_upgrade.yml", version=NEWER)
        time.sleep(2)
    finally:
        watcher.terminate()
        watcher.wait(10)
        lab.write(SERVERS, AGENTS, NEWER)
    assert result.returncode == 0, result.stdout[-6000:]
    with open(samples_path, encoding="utf-8") as f:
        samples = [json.loads(line) for line in f]
    assert len(samples) > 20
    assert min(s["healthy"] for s in samples) >= 2, [s["healthy"] for s in samples]
    seen = [s for s in samples if s["nodes"]]
    for agent in AGENTS:
        versions = [s["nodes"][agent][1] for s in seen if agent in s["nodes"]]
        assert versions[0].startswith(VERSION) and versions[-1].startswith(NEWER)
        first_new = next(i for i, s in enumerate(seen) if s["nodes"].get(agent, [0, ""])[1].startswith(NEWER))
        before = seen[first_new - 1]
        assert before["nodes"][agent][0] is True  # cordoned before its upgrade
        assert agent not in (before["pods"] or [])  # drained before its upgrade
        assert seen[-1]["nodes"][agent][0] is False  # uncordoned after
    nodes = lab.nodes()
    assert all(ready(n) and n["status"]["nodeInfo"]["kubeletVersion"].startswith(NEWER) for n in nodes)
    assert sum(voter(n) for n in nodes) == 3
    snapshots = subprocess.run(lab_guests.exec_argv(SERVERS["h14s1"], "k3s", "etcd-snapshot", "ls"),
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "pre-upgrade" in snapshots


def test_h14_k3s_remove_nodes(lab: GuestCluster) -> None:
    version = NEWER
    # a server down: removing another voter would leave 1 healthy of 2, below quorum: refused, nothing changes
    subprocess.run(lab_guests.exec_argv(SERVERS["h14s3"], "systemctl", "stop", "k3s"), check=True)
    try:
        wait_nodes(lab, lambda ns: not any(ready(n) for n in ns if n["metadata"]["name"] == "h14s3"))
        result = lab.playbook("k3s_node_remove.yml", "-e", '{"k3s_remove": ["h14s2"]}', version=version)
        assert result.returncode != 0
        assert "below quorum" in result.stdout, result.stdout[-4000:]
        installed = subprocess.run(
            lab_guests.exec_argv(SERVERS["h14s2"], "test", "-e", "/usr/local/bin/k3s"), check=False
        )
        assert installed.returncode == 0
        assert not any(s[3] for s in map(summary, lab.nodes()) if s[0] == "h14s2")  # not even cordoned
    finally:
        subprocess.run(lab_guests.exec_argv(SERVERS["h14s3"], "systemctl", "start", "k3s"), check=True)
    wait_nodes(lab, lambda ns: all(ready(n) for n in ns) and sum(voter(n) for n in ns) == 3)
    result = lab.playbook("k3s_node_remove.yml", "-e", '{"k3s_remove": ["h14a2", "h14s3"]}', version=version)
    assert result.returncode == 0, result.stdout[-6000:]
    nodes = wait_nodes(lab, lambda ns: len(ns) == 3 and all(ready(n) for n in ns))
    assert sorted(n["metadata"]["name"] for n in nodes) == ["h14a1", "h14s1", "h14s2"]
    assert sum(voter(n) for n in nodes) == 2
    assert len(members(SERVERS["h14s1"])) == 2
    for vmid in (AGENTS["h14a2"], SERVERS["h14s3"]):
        assert (
            subprocess.run(lab_guests.exec_argv(vmid, "test", "-e", "/usr/local/bin/k3s"), check=False).returncode != 0
        )

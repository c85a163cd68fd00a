"""k3s_cluster_info and k3s_node, run by Ansible against the lab's stand-in k3s (NOT K3s) as local processes.

The stand-in has no containers: its "pods" are objects it places on nodes itself (one per agent), which is enough
for evictions, PodDisruptionBudgets and drains to be decided by the API as Kubernetes decides them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "k3s"))

from localcluster import LocalCluster, wait_for  # noqa: E402

pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

PYTHON = os.path.join(ROOT, ".venv", "bin", "python")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    lc = LocalCluster(str(tmp_path_factory.mktemp("k3smod")))
    try:
        s1 = lc.instance("s1", "server", 1, {"cluster-init": True, "token": "module-tests"})
        lc.start(s1)
        lc.wait_ping(s1)
        for index, name in ((2, "s2"), (3, "s3")):  # one at a time, as K3s servers must join
            lc.wait_ping(lc.start(lc.instance(name, "server", index, {"server": s1.url, "token": s1.token()})))
        for index, name in ((11, "a1"), (12, "a2")):
            lc.start(lc.instance(name, "agent", index, {"server": s1.url, "token": s1.token()}))
        core = k8s.CoreV1Api(k8s_config.new_client_from_config(s1.kubeconfig))

        def settled() -> bool:
            nodes = core.list_node().items
            voters = [n for n in nodes for c in n.status.conditions if c.type == "EtcdIsVoter" and c.status == "True"]
            return (
                len(nodes) == 5
                and len(voters) == 3
                and all(c.status == "True" for n in nodes for c in n.status.conditions if c.type == "Ready")
            )

        wait_for("5 nodes Ready and 3 voters", settled, timeout=120, errors=(OSError, ApiException))
        yield lc
    finally:  # also when the setup fails: every process started is stopped
        lc.close()


def run(module: str, args: dict[str, Any], tmp_path, check: bool = False, expect_failure: bool = False) -> dict:
    """One task of module with args, run by ansible-playbook on localhost with --diff; its registered result."""
    out = tmp_path / ("result-%s.json" % os.urandom(4).hex())
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "run", module: args, "register": "r", "ignore_errors": expect_failure},
                {"name": "save", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(out)},
                 "check_mode": False},
            ],
        }
    ]  # fmt: skip
    book = tmp_path / "play.yml"
    book.write_text(json.dumps(play))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
        ANSIBLE_NOCOLOR="1",
    )
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local", "--diff",
            "-e", "ansible_python_interpreter=" + PYTHON, str(book)] + (["--check"] if check else [])  # fmt: skip
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert bool(result.get("failed")) is expect_failure, result
    return result


def core_of(cluster: LocalCluster) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(k8s_config.new_client_from_config(cluster.instances["s1"].kubeconfig))


def test_cluster_info(cluster: LocalCluster, tmp_path) -> None:
    s1 = cluster.instances["s1"]
    servers = [cluster.instances[n].ip for n in ("s1", "s2", "s3")] + [cluster.ip(99)]
    r = run("ironcloud.stack.k3s_cluster_info", {"kubeconfig": s1.kubeconfig, "servers": servers}, tmp_path)
    assert r["api_available"] and r["changed"] is False
    assert [s["answers"] for s in r["servers"]] == [True, True, True, False]
    assert [(n["name"], n["ready"], n["roles"]) for n in r["nodes"]] == [
        ("a1", True, []),
        ("a2", True, []),
        ("s1", True, ["control-plane", "etcd", "master"]),
        ("s2", True, ["control-plane", "etcd", "master"]),
        ("s3", True, ["control-plane", "etcd", "master"]),
    ]
    assert r["nodes"][0]["version"] == "v1.31.5+k3s1"
    assert [(m["name"], m["voter"]) for m in r["etcd_members"]] == [("s1", True), ("s2", True), ("s3", True)]
    assert (r["voters"], r["healthy_voters"], r["quorum"]) == (3, 3, 2)


def test_labels_and_taints_through_the_api(cluster: LocalCluster, tmp_path) -> None:
    args = {"kubeconfig": cluster.instances["s1"].kubeconfig, "name": "a1", "labels": {"tier": "web"},
            "taints": [{"key": "dedicated", "value": "web", "effect": "PreferNoSchedule"}]}  # fmt: skip
    check = run("ironcloud.stack.k3s_node", args, tmp_path, check=True)
    assert check["changed"] and check["diff"]["after"]["labels"]["tier"] == "web"
    assert "tier" not in core_of(cluster).read_node("a1").metadata.labels
    first = run("ironcloud.stack.k3s_node", args, tmp_path)
    assert first["changed"]
    node = core_of(cluster).read_node("a1")
    assert node.metadata.labels["tier"] == "web"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("dedicated", "web", "PreferNoSchedule")]
    second = run("ironcloud.stack.k3s_node", args, tmp_path)
    assert second["changed"] is False
    removed = run("ironcloud.stack.k3s_node", dict(args, labels={"tier": None}, taints=[], purge_taints=True), tmp_path)
    assert removed["changed"] and "tier" not in removed["node"]["labels"] and removed["node"]["taints"] == []


def test_drain_honours_the_disruption_budget_then_uncordon(cluster: LocalCluster, tmp_path) -> None:
    kubeconfig = cluster.instances["s1"].kubeconfig
    policy = k8s.PolicyV1Api(k8s_config.new_client_from_config(kubeconfig))
    pods = core_of(cluster).list_namespaced_pod("standin-workloads").items
    assert sorted(p.spec.node_name for p in pods) == ["a1", "a2"]

    def budget(min_available: int) -> None:
        selector = {"matchLabels": {"app": "standin-workload"}}
        body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                "spec": {"minAvailable": min_available, "selector": selector}}  # fmt: skip
        policy.create_namespaced_pod_disruption_budget("standin-workloads", body)

    budget(2)
    blocked = run("ironcloud.stack.k3s_node", {"kubeconfig": kubeconfig, "name": "a1", "state": "drained",
                                               "timeout": 6}, tmp_path, expect_failure=True)  # fmt: skip
    assert "PodDisruptionBudget" in blocked["msg"] and "timeout" in blocked["msg"]
    assert core_of(cluster).read_node("a1").spec.unschedulable is True
    assert [p.spec.node_name for p in core_of(cluster).list_namespaced_pod("standin-workloads").items].count("a1") == 1
    policy.delete_namespaced_pod_disruption_budget("web", "standin-workloads")
    budget(1)
    args = {"kubeconfig": kubeconfig, "name": "a1", "state": "drained", "timeout": 60}
    check = run("ironcloud.stack.k3s_node", args, tmp_path, check=True)
    assert check["changed"] and len(check["evicted"]) == 1
    drained = run("ironcloud.stack.k3s_node", args, tmp_path)
    assert drained["changed"] and drained["evicted"] == check["evicted"]
    placed = [p.spec.node_name for p in core_of(cluster).list_namespaced_pod("standin-workloads").items]
    assert "a1" not in placed and len(placed) == 2
    assert run("ironcloud.stack.k3s_node", args, tmp_path)["changed"] is False
    back = run("ironcloud.stack.k3s_node", {"kubeconfig": kubeconfig, "name": "a1", "state": "uncordoned"}, tmp_path)
    assert back["changed"] and back["node"]["unschedulable"] is False
    policy.delete_namespaced_pod_disruption_budget("web", "standin-workloads")


def test_wait_for_a_restarted_server_to_be_ready_and_a_voter(cluster: LocalCluster, tmp_path) -> None:
    s2 = cluster.instances["s2"]
    cluster.stop(s2)
    cluster.start(s2)
    r = run("ironcloud.stack.k3s_node", {"kubeconfig": cluster.instances["s1"].kubeconfig, "name": "s2",
                                         "wait": True, "timeout": 90}, tmp_path)  # fmt: skip
    assert r["changed"] is False and r["node"]["ready"] and r["node"]["etcd_voter"] is True


def test_remove_an_agent_and_a_server_refusing_to_lose_quorum(cluster: LocalCluster, tmp_path) -> None:
    kubeconfig = cluster.instances["s1"].kubeconfig
    cluster.stop(cluster.instances["a2"])
    r = run("ironcloud.stack.k3s_node", {"kubeconfig": kubeconfig, "name": "a2", "state": "absent"}, tmp_path)
    assert r["changed"] and r["diff"]["before"]["name"] == "a2"
    # s3 stops: 2 healthy of 3 voters; removing a healthy one would leave 1 healthy of 2
    s3 = cluster.instances["s3"]
    cluster.stop(s3)
    wait_for(
        "s3 NotReady",
        lambda: any(
            c.type == "Ready" and c.status != "True" for c in core_of(cluster).read_node("s3").status.conditions
        ),
        timeout=60,
        errors=(OSError, ApiException),
    )
    refused = run("ironcloud.stack.k3s_node", {"kubeconfig": kubeconfig, "name": "s2", "state": "absent"}, tmp_path,
                  expect_failure=True)  # fmt: skip
    assert "below quorum 2" in refused["msg"]
    removed = run("ironcloud.stack.k3s_node", {"kubeconfig": kubeconfig, "name": "s3", "state": "absent"}, tmp_path)
    assert removed["changed"]
    req = urllib.request.Request("http://%s:2379/v3/cluster/member/list" % cluster.instances["s1"].ip, data=b"{}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        members = json.loads(resp.read())["members"]
    assert sorted(m["name"].rsplit("-", 1)[0] for m in members) == ["s1", "s2"]
    info = run("ironcloud.stack.k3s_cluster_info", {"kubeconfig": kubeconfig}, tmp_path)
    assert [n["name"] for n in info["nodes"]] == ["a1", "s1", "s2"] and info["healthy_voters"] == 2

"""k3s_cluster_info and k3s_node logic against a stubbed Kubernetes API (plain dicts, as the API's JSON)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._k3s import nodes as k3s
from ansible_collections.ironcloud.stack.plugins.module_utils._k3s.client import K3sError
from ansible_collections.ironcloud.stack.plugins.module_utils._module import merged_argument_spec


def node(name: str, server: bool = False, ready: bool = True, voter: bool | None = None, **spec: Any) -> dict:
    labels = {"kubernetes.io/hostname": name}
    conditions = [{"type": "Ready", "status": "True" if ready else "Unknown"}]
    if server:
        labels.update({k3s.ROLE_PREFIX + r: "true" for r in ("control-plane", "etcd", "master")})
        conditions.append({"type": "EtcdIsVoter", "status": "True" if voter in (None, True) else "False"})
    return {
        "metadata": {"name": name, "labels": labels, "resourceVersion": "1"},
        "spec": dict(spec),
        "status": {"conditions": conditions, "nodeInfo": {"kubeletVersion": "v1.31.5+k3s1"}},
    }


def pod(name: str, on: str, ready: bool = True, owner: str = "ReplicaSet") -> dict:
    return {
        "metadata": {"name": name, "namespace": "web", "ownerReferences": [{"kind": owner, "name": "x"}]},
        "spec": {"nodeName": on},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


class FakeKube:
    """The Kubernetes API the logic uses, over dicts; evictions refused while `blocked` names the pod."""

    def __init__(self, nodes: list[dict], pods: list[dict] | None = None, answers: bool = True) -> None:
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.pods = pods or []
        self.answers = answers
        self.blocked: dict[str, int] = {}
        self.calls: list[tuple] = []

    def readyz(self) -> str:
        if not self.answers:
            raise K3sError("GET /readyz: 503", status=503)
        return "ok"

    def list_nodes(self) -> list[dict]:
        if not self.answers:
            raise K3sError("GET /api/v1/nodes: 503", status=503)
        return [copy.deepcopy(n) for n in self.nodes.values()]

    def get_node(self, name: str) -> dict | None:
        return copy.deepcopy(self.nodes.get(name))

    def patch_node(self, name: str, patch: dict) -> dict:
        self.calls.append(("patch", name, copy.deepcopy(patch)))
        n = self.nodes[name]
        for k, v in (patch.get("metadata", {}).get("labels") or {}).items():
            if v is None:
                n["metadata"]["labels"].pop(k, None)
            else:
                n["metadata"]["labels"][k] = v
        n["spec"].update(patch.get("spec") or {})
        return copy.deepcopy(n)

    def delete_node(self, name: str) -> None:
        self.calls.append(("delete", name))
        del self.nodes[name]

    def pods_on(self, name: str) -> list[dict]:
        return [p for p in self.pods if p["spec"]["nodeName"] == name]

    def evict(self, namespace: str, name: str) -> bool:
        self.calls.append(("evict", name))
        if self.blocked.get(name, 0) > 0:
            self.blocked[name] -= 1
            return False
        self.pods = [p for p in self.pods if p["metadata"]["name"] != name]
        return True


class FakeClock(k3s.Clock):
    def __init__(self) -> None:
        self.t = 0.0
        super().__init__(now=lambda: self.t, sleep=self.advance)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def cluster() -> FakeKube:
    return FakeKube(
        [node("s1", True), node("s2", True), node("s3", True), node("a1"), node("a2")],
        [pod("web-1", "a1"), pod("web-2", "a2"), pod("ds-1", "a1", owner="DaemonSet")],
    )


def params(**kw: Any) -> dict:
    base = {"name": "a1", "state": "present", "labels": None, "taints": None, "purge_taints": False, "wait": False,
            "timeout": 60}  # fmt: skip
    base.update(kw)
    return base


# ------------------------------------------------------------------------------------------------ cluster info


def test_cluster_info_nodes_members_and_quorum():
    kube = cluster()
    kube.nodes["s3"] = node("s3", True, ready=False)
    result = k3s.cluster_info(kube, [], lambda a: kube)
    assert result["api_available"] and result["changed"] is False
    assert [n["name"] for n in result["nodes"]] == ["a1", "a2", "s1", "s2", "s3"]
    s1 = result["nodes"][2]
    assert s1["roles"] == ["control-plane", "etcd", "master"] and s1["etcd_voter"] is True
    assert result["nodes"][0]["etcd_voter"] is None and result["nodes"][0]["roles"] == []
    assert result["etcd_members"] == [
        {"name": "s1", "voter": True, "healthy": True},
        {"name": "s2", "voter": True, "healthy": True},
        {"name": "s3", "voter": True, "healthy": False},
    ]
    assert (result["voters"], result["healthy_voters"], result["quorum"]) == (3, 2, 2)


def test_cluster_info_learner_is_not_a_voter():
    kube = FakeKube([node("s1", True), node("s2", True, voter=False)])
    result = k3s.cluster_info(kube, [], lambda a: kube)
    assert result["etcd_members"][1] == {"name": "s2", "voter": False, "healthy": False}
    assert (result["voters"], result["quorum"]) == (1, 1)


def test_cluster_info_reads_through_a_server_that_answers_and_reports_the_others():
    down = FakeKube([], answers=False)
    up = cluster()
    servers = {"10.0.0.1": down, "10.0.0.2": up}
    result = k3s.cluster_info(down, list(servers), servers.__getitem__)
    assert result["api_available"]
    assert [(s["address"], s["answers"], s["status"]) for s in result["servers"]] == [
        ("10.0.0.1", False, 503),
        ("10.0.0.2", True, 200),
    ]
    assert len(result["nodes"]) == 5


def test_cluster_info_with_nothing_answering_does_not_fail():
    down = FakeKube([], answers=False)
    result = k3s.cluster_info(down, ["10.0.0.1"], lambda a: down)
    assert result["api_available"] is False and result["nodes"] == [] and result["quorum"] == 0


# ------------------------------------------------------------------------------------------------ one node


def test_labels_and_taints_applied_then_idempotent_check_mode_first():
    kube = cluster()
    wanted = params(labels={"tier": "web"}, taints=[{"key": "dedicated", "value": "web", "effect": "NoSchedule"}])
    check = k3s.ensure_node(kube, wanted, check_mode=True)
    assert check["changed"] and not kube.calls
    assert check["diff"]["after"]["labels"]["tier"] == "web"
    assert check["node"]["taints"] == [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    done = k3s.ensure_node(kube, wanted, check_mode=False)
    assert done["changed"] and done["node"] == check["node"]
    patch = kube.calls[0][2]
    assert patch["metadata"]["labels"] == {"tier": "web"} and patch["metadata"]["resourceVersion"] == "1"
    again = k3s.ensure_node(kube, wanted, check_mode=False)
    assert again["changed"] is False and len(kube.calls) == 1


def test_null_label_removes_and_purge_keeps_kubernetes_taints():
    kube = cluster()
    kube.nodes["a1"]["metadata"]["labels"]["old"] = "x"
    kube.nodes["a1"]["spec"]["taints"] = [
        {"key": "other", "effect": "NoExecute"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    ]
    result = k3s.ensure_node(
        kube, params(labels={"old": None}, taints=[{"key": "k", "effect": "NoSchedule"}], purge_taints=True), False
    )
    assert "old" not in result["node"]["labels"]
    assert result["diff"]["before"]["taints"] == [{"key": "other", "effect": "NoExecute"}]
    assert kube.calls[0][2]["spec"]["taints"] == [
        {"key": "k", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    ]


def test_taint_same_key_and_effect_is_replaced_without_purge():
    have = [{"key": "a", "effect": "NoSchedule", "value": "1"}, {"key": "b", "effect": "NoExecute"}]
    want = k3s.wanted_taints(have, [{"key": "a", "effect": "NoSchedule", "value": "2"}], purge=False)
    assert want == [{"key": "b", "effect": "NoExecute"}, {"key": "a", "effect": "NoSchedule", "value": "2"}]


def test_cordon_uncordon():
    kube = cluster()
    assert k3s.ensure_node(kube, params(state="cordoned"), False)["node"]["unschedulable"] is True
    assert k3s.ensure_node(kube, params(state="cordoned"), False)["changed"] is False
    result = k3s.ensure_node(kube, params(state="uncordoned"), False)
    assert result["changed"] and result["diff"] == {
        "before": {"unschedulable": True},
        "after": {"unschedulable": False},
    }


def test_drain_cordons_and_evicts_all_but_daemonset_pods_retrying_a_pdb_refusal():
    kube = cluster()
    kube.blocked["web-1"] = 2  # the budget refuses twice, then a replacement is Ready elsewhere
    clock = FakeClock()
    check = k3s.ensure_node(kube, params(state="drained"), True, clock)
    assert check["evicted"] == ["web/web-1"] and not kube.calls
    result = k3s.ensure_node(kube, params(state="drained"), False, clock)
    assert result["evicted"] == ["web/web-1"] and result["node"]["unschedulable"] is True
    assert [c for c in kube.calls if c[0] == "evict"] == [("evict", "web-1")] * 3
    assert [p["metadata"]["name"] for p in kube.pods_on("a1")] == ["ds-1"]
    assert k3s.ensure_node(kube, params(state="drained"), False, clock)["changed"] is False


def test_drain_times_out_naming_the_blocked_pods_and_stays_cordoned():
    kube = cluster()
    kube.blocked["web-1"] = 1000
    with pytest.raises(K3sError) as e:
        k3s.ensure_node(kube, params(state="drained", timeout=10), False, FakeClock())
    assert "web/web-1" in e.value.message and "PodDisruptionBudget" in e.value.message
    assert kube.nodes["a1"]["spec"]["unschedulable"] is True


def test_absent_deletes_an_agent_and_is_idempotent():
    kube = cluster()
    assert k3s.ensure_node(kube, params(state="absent"), True)["changed"] and "a1" in kube.nodes
    result = k3s.ensure_node(kube, params(state="absent"), False)
    assert result["changed"] and result["diff"]["after"] == {} and "a1" not in kube.nodes
    assert k3s.ensure_node(kube, params(state="absent"), False)["changed"] is False


def test_absent_refuses_to_lose_quorum():
    kube = cluster()
    kube.nodes["s3"] = node("s3", True, ready=False)
    with pytest.raises(K3sError) as e:
        k3s.ensure_node(kube, params(name="s1", state="absent"), False)
    assert "below quorum 2" in e.value.message and "s1" in kube.nodes
    # removing the unhealthy one leaves 2 healthy of 2
    assert k3s.ensure_node(kube, params(name="s3", state="absent"), False)["changed"]
    k3s.ensure_node(kube, params(name="s2", state="absent"), False)
    with pytest.raises(K3sError, match="0 healthy of 0"):
        k3s.ensure_node(kube, params(name="s1", state="absent"), False)


def test_wait_for_ready_and_voter():
    kube = cluster()
    kube.nodes["s2"] = node("s2", True, voter=False)
    clock = FakeClock()

    def promote(seconds: float) -> None:
        clock.t += seconds
        if clock.t >= 6:
            kube.nodes["s2"] = node("s2", True)

    clock.sleep = promote
    result = k3s.ensure_node(kube, params(name="s2", wait=True), False, clock)
    assert result["node"]["etcd_voter"] is True and clock.t >= 6
    kube.nodes["s2"] = node("s2", True, voter=False)
    with pytest.raises(K3sError, match="timeout: waited 60s for node s2 to be Ready"):
        k3s.ensure_node(kube, params(name="s2", wait=True), False, FakeClock())


def test_missing_node_is_an_error_unless_waiting_or_absent():
    kube = cluster()
    with pytest.raises(K3sError, match="name: node nope is not in the cluster"):
        k3s.ensure_node(kube, params(name="nope"), False)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"labels": {"bad key!": "x"}}, "labels: 'bad key!' is not a label key"),
        ({"labels": {"ok": "no spaces"}}, "labels.ok:"),
        ({"taints": [{"key": "k", "effect": "Sometimes"}]}, "taints.k: effect must be one of"),
        ({"taints": [{"key": "node.kubernetes.io/x", "effect": "NoSchedule"}]}, "belong to Kubernetes"),
        ({"taints": [{"key": "k", "effect": "NoSchedule"}] * 2}, "listed twice"),
        ({"state": "absent", "labels": {"a": "b"}}, "not used with state=absent"),
    ],
)
def test_bad_input_is_refused_before_anything_changes(bad, message):
    kube = cluster()
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(".", r"\.")):
        k3s.ensure_node(kube, params(**bad), False)
    assert not kube.calls


def test_the_k8s_layer_options():
    from ansible_collections.ironcloud.stack.plugins.module_utils._k3s.client import K8S

    spec = merged_argument_spec([K8S], {})
    assert spec["kubeconfig"] == {"type": "path", "required": True}
    assert spec["validate_certs"]["default"] is True

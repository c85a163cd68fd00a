# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A K3s cluster as its nodes show it (k3s_cluster_info) and one node's desired state (k3s_node).

Pure where possible: the functions read and return the Kubernetes API's JSON as plain dicts. The client is anything
with the methods of KubeApi (client.Kube in a module, a stub in the unit tests).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._k3s.client import K3sError

ROLE_PREFIX = "node-role.kubernetes.io/"
ETCD_ROLE = ROLE_PREFIX + "etcd"
SYSTEM_TAINT_PREFIX = "node.kubernetes.io/"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
STATES = ("present", "cordoned", "drained", "uncordoned", "absent")
POLL_SECONDS = 2.0

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")


class KubeApi(Protocol):
    def list_nodes(self) -> list[dict[str, Any]]: ...
    def get_node(self, name: str) -> dict[str, Any] | None: ...
    def patch_node(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]: ...
    def delete_node(self, name: str) -> None: ...
    def pods_on(self, node: str) -> list[dict[str, Any]]: ...
    def evict(self, namespace: str, name: str) -> bool: ...
    def readyz(self) -> str: ...


# ------------------------------------------------------------------------------------------------ reading nodes


def condition(node: Mapping[str, Any], kind: str) -> str | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def is_etcd_node(node: Mapping[str, Any]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return labels.get(ETCD_ROLE) == "true" or condition(node, "EtcdIsVoter") is not None


def node_summary(node: Mapping[str, Any]) -> dict[str, Any]:
    """What the modules return for a node: name, ready, roles, version, labels, taints, unschedulable, etcd_voter."""
    meta = node.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    spec = node.get("spec") or {}
    voter = condition(node, "EtcdIsVoter")
    return {
        "name": meta.get("name"),
        "ready": condition(node, "Ready") == "True",
        "roles": sorted(k[len(ROLE_PREFIX) :] for k in labels if k.startswith(ROLE_PREFIX)),
        "version": ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion"),
        "labels": labels,
        "taints": [normal_taint(t) for t in spec.get("taints") or []],
        "unschedulable": bool(spec.get("unschedulable")),
        "etcd_voter": None if voter is None and not is_etcd_node(node) else voter == "True",
    }


def normal_taint(taint: Mapping[str, Any]) -> dict[str, str]:
    out = {"key": str(taint["key"]), "effect": str(taint["effect"])}
    if taint.get("value") not in (None, ""):
        out["value"] = str(taint["value"])
    return out


def etcd_members(nodes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The servers of the cluster's embedded etcd, from their nodes: name, voter (EtcdIsVoter), healthy (voter and
    Ready)."""
    out = []
    for node in nodes:
        if not is_etcd_node(node):
            continue
        voter = condition(node, "EtcdIsVoter") == "True"
        out.append(
            {
                "name": (node.get("metadata") or {}).get("name"),
                "voter": voter,
                "healthy": voter and condition(node, "Ready") == "True",
            }
        )
    return sorted(out, key=lambda m: str(m["name"]))


def quorum(voters: int) -> int:
    return voters // 2 + 1


def probe(kube: KubeApi) -> dict[str, Any]:
    """Whether one server answers: its /readyz (which reads etcd: 503 without quorum)."""
    try:
        kube.readyz()
    except K3sError as e:
        return {"answers": False, "status": e.details.get("status"), "error": e.message}
    return {"answers": True, "status": 200, "error": None}


def cluster_info(kube: KubeApi, servers: Sequence[str], server_api: Callable[[str], KubeApi]) -> dict[str, Any]:
    """k3s_cluster_info: which of servers answer (each probed with the kubeconfig's credentials), the nodes and the
    etcd members; the nodes are read through the kubeconfig's server, or the first server that answers."""
    probes = []
    readers: list[KubeApi] = []
    for address in servers:
        api = server_api(address)
        result = dict(probe(api), address=address)
        probes.append(result)
        if result["answers"]:
            readers.append(api)
    own = probe(kube)
    if own["answers"]:
        readers.insert(0, kube)
    nodes: list[dict[str, Any]] = []
    available = False
    for api in readers:
        try:
            nodes = api.list_nodes()
        except K3sError:
            continue
        available = True
        break
    members = etcd_members(nodes)
    voters = [m for m in members if m["voter"]]
    healthy = [m for m in voters if m["healthy"]]
    return {
        "changed": False,
        "api_available": available,
        "servers": probes,
        "nodes": sorted((node_summary(n) for n in nodes), key=lambda n: str(n["name"])),
        "etcd_members": members,
        "voters": len(voters),
        "healthy_voters": len(healthy),
        "quorum": quorum(len(voters)) if voters else 0,
        "msg": "%d nodes, %d of %d etcd voters healthy" % (len(nodes), len(healthy), len(voters))
        if available
        else "no server answers",
    }


# ------------------------------------------------------------------------------------------------ one node


def validate_node_params(params: Mapping[str, Any]) -> None:
    name = params.get("name")
    if not name:
        raise ValidationError("name: required, the node's name in the cluster")
    if params.get("state", "present") not in STATES:
        raise ValidationError("state: one of %s" % ", ".join(STATES))
    if params.get("state") == "absent" and (params.get("labels") or params.get("taints")):
        raise ValidationError("labels, taints: not used with state=absent")
    for key, value in (params.get("labels") or {}).items():
        prefix, slash, label = str(key).rpartition("/")
        if not _LABEL_NAME.match(label) or (prefix and not _LABEL_PREFIX.match(prefix)):
            raise ValidationError("labels: %r is not a label key ([prefix/]name, name up to 63 characters)" % key)
        if value is not None and not _LABEL_VALUE.match(str(value)):
            raise ValidationError("labels.%s: %r is not a label value (up to 63 of A-Za-z0-9._-)" % (key, value))
    seen = set()
    for taint in params.get("taints") or []:
        if not taint.get("key"):
            raise ValidationError("taints: each taint needs a key")
        if taint.get("effect") not in TAINT_EFFECTS:
            raise ValidationError("taints.%s: effect must be one of %s" % (taint["key"], ", ".join(TAINT_EFFECTS)))
        if str(taint["key"]).startswith(SYSTEM_TAINT_PREFIX):
            raise ValidationError("taints.%s: node.kubernetes.io/ taints belong to Kubernetes" % taint["key"])
        ident = (taint["key"], taint["effect"])
        if ident in seen:
            raise ValidationError("taints.%s: listed twice with effect %s" % ident)
        seen.add(ident)
    if int(params.get("timeout") or 0) < 0:
        raise ValidationError("timeout: must be at least 0")


def wanted_labels(have: Mapping[str, str], labels: Mapping[str, Any] | None) -> dict[str, str]:
    """have with labels applied: a value sets the label, null removes it; unnamed labels stay."""
    out = dict(have)
    for key, value in (labels or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = str(value)
    return out


def wanted_taints(
    have: Sequence[Mapping[str, Any]], taints: Sequence[Mapping[str, Any]] | None, purge: bool
) -> list[dict[str, str]]:
    """The node's own taints (not node.kubernetes.io/*) as wanted: taints set by (key, effect); with purge, exactly
    taints; taints None leaves them as they are."""
    own = [normal_taint(t) for t in have if not str(t["key"]).startswith(SYSTEM_TAINT_PREFIX)]
    if taints is None:
        return own
    want = [normal_taint(t) for t in taints]
    if purge:
        return want
    keys = {(t["key"], t["effect"]) for t in want}
    return [t for t in own if (t["key"], t["effect"]) not in keys] + want


def taint_set(taints: Iterable[Mapping[str, str]]) -> list[tuple[str, str, str]]:
    return sorted((t["key"], t["effect"], t.get("value", "")) for t in taints)


def drainable(pods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pods a drain evicts: not DaemonSet pods, not mirror (static) pods, not finished."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or []):
            continue
        if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        out.append(dict(pod))
    return out


def pod_id(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


class Clock:
    """Time for waits (injected in tests)."""

    def __init__(self, now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.now = now
        self.sleep = sleep


def ensure_node(
    kube: KubeApi, params: Mapping[str, Any], check_mode: bool, clock: Clock | None = None
) -> dict[str, Any]:
    """k3s_node: labels and taints through the API; cordon, drain (PDB-respecting evictions), uncordon or delete;
    wait for Ready and, for a server, EtcdIsVoter."""
    validate_node_params(params)
    clock = clock or Clock()
    name = str(params["name"])
    state = params.get("state") or "present"
    timeout = float(300 if params.get("timeout") is None else params["timeout"])
    wait = bool(params.get("wait"))
    node = kube.get_node(name)
    if node is None and wait and state != "absent" and not check_mode:
        node = wait_until(clock, timeout, "node %s to register" % name, lambda: kube.get_node(name))
    if state == "absent":
        return remove_node(kube, name, node, check_mode)
    if node is None:
        raise K3sError("name: node %s is not in the cluster" % name, node=name)

    before = node_summary(node)
    labels = wanted_labels(before["labels"], params.get("labels"))
    taints = wanted_taints(before["taints"], params.get("taints"), bool(params.get("purge_taints")))
    own_taints = wanted_taints(before["taints"], None, False)
    unschedulable = {"cordoned": True, "drained": True, "uncordoned": False}.get(state, before["unschedulable"])
    diff = Diff()
    diff.compare("labels", before["labels"], labels)
    taints_changed = taint_set(own_taints) != taint_set(taints)
    if taints_changed:
        diff.before["taints"], diff.after["taints"] = own_taints, taints
    diff.compare("unschedulable", before["unschedulable"], unschedulable)
    after = dict(before, labels=labels, unschedulable=unschedulable)
    if diff.changed:
        system = [t for t in before["taints"] if str(t["key"]).startswith(SYSTEM_TAINT_PREFIX)]
        if not unschedulable:
            system = [t for t in system if t["key"] != UNSCHEDULABLE_TAINT]
        after["taints"] = taints + system
        if not check_mode:
            patch: dict[str, Any] = {"metadata": {"resourceVersion": node["metadata"].get("resourceVersion")}}
            if "labels" in diff.before:
                patch["metadata"]["labels"] = {
                    k: labels.get(k)
                    for k in set(before["labels"]) | set(labels)
                    if before["labels"].get(k) != labels.get(k)
                }
            spec: dict[str, Any] = {}
            if taints_changed:
                spec["taints"] = after["taints"]
            if "unschedulable" in diff.before:
                spec["unschedulable"] = unschedulable
            if spec:
                patch["spec"] = spec
            after = node_summary(kube.patch_node(name, patch))

    evicted: list[str] = []
    if state == "drained":
        evicted = drain(kube, name, check_mode, clock, timeout)
        if evicted:
            diff.before["pods"] = evicted
            diff.after["pods"] = []

    if wait and not check_mode:
        after = node_summary(wait_ready(kube, name, clock, timeout))
    changed = diff.changed
    msg = "node %s %s" % (name, "updated" if changed else "unchanged")
    if evicted:
        msg += "; %s %d pods" % ("would evict" if check_mode else "evicted", len(evicted))
    return {"changed": changed, "node": after, "evicted": evicted, "diff": diff.as_dict(), "msg": msg}


def wait_until(clock: Clock, timeout: float, what: str, check: Callable[[], Any]) -> Any:
    deadline = clock.now() + timeout
    while True:
        result = check()
        if result:
            return result
        if clock.now() >= deadline:
            raise K3sError("timeout: waited %ds for %s" % (timeout, what), waited_for=what)
        clock.sleep(POLL_SECONDS)


def wait_ready(kube: KubeApi, name: str, clock: Clock, timeout: float) -> dict[str, Any]:
    """The node once Ready and, when it is an etcd member, EtcdIsVoter (a restarted server rejoins as a learner)."""

    def ready() -> dict[str, Any] | None:
        node = kube.get_node(name)
        if node is None or condition(node, "Ready") != "True":
            return None
        if is_etcd_node(node) and condition(node, "EtcdIsVoter") != "True":
            return None
        return node

    what = "node %s to be Ready (and EtcdIsVoter for a server)" % name
    result: dict[str, Any] = wait_until(clock, timeout, what, ready)
    return result


def drain(kube: KubeApi, name: str, check_mode: bool, clock: Clock, timeout: float) -> list[str]:
    """Evict the node's pods, retrying those a PodDisruptionBudget protects for now, until they are gone or timeout.

    Returns the pods evicted (in check mode, those that would be)."""
    pods = drainable(kube.pods_on(name))
    if check_mode:
        return sorted(pod_id(p) for p in pods)
    evicted: set[str] = set()
    deadline = clock.now() + timeout
    while True:
        blocked = []
        for pod in drainable(kube.pods_on(name)):
            meta = pod["metadata"]
            if kube.evict(meta["namespace"], meta["name"]):
                evicted.add(pod_id(pod))
            else:
                blocked.append(pod_id(pod))
        if not drainable(kube.pods_on(name)):
            return sorted(evicted)
        if clock.now() >= deadline:
            raise K3sError(
                "timeout: drain of node %s did not finish in %ds: %s"
                % (
                    name,
                    timeout,
                    ", ".join(blocked) + " refused by a PodDisruptionBudget" if blocked else "pods remain",
                ),
                node=name,
                blocked=blocked,
                evicted=sorted(evicted),
            )
        clock.sleep(POLL_SECONDS)


def remove_node(kube: KubeApi, name: str, node: Mapping[str, Any] | None, check_mode: bool) -> dict[str, Any]:
    """Delete the node (for a server, K3s also removes its etcd member), unless that loses etcd quorum."""
    if node is None:
        return {
            "changed": False,
            "node": None,
            "evicted": [],
            "diff": whole(None, None),
            "msg": "node %s absent" % name,
        }
    before = node_summary(node)
    if before["etcd_voter"]:
        members = etcd_members(kube.list_nodes())
        voters = [m for m in members if m["voter"]]
        remaining = [m for m in voters if m["name"] != name]
        healthy = [m for m in remaining if m["healthy"]]
        if not remaining or len(healthy) < quorum(len(remaining)):
            raise K3sError(
                "state: removing node %s would leave %d healthy of %d etcd voters, below quorum %d"
                % (name, len(healthy), len(remaining), quorum(len(remaining)) if remaining else 1),
                node=name,
                voters=[m["name"] for m in voters],
                healthy=[m["name"] for m in healthy],
            )
    if not check_mode:
        kube.delete_node(name)
    return {
        "changed": True,
        "node": None,
        "evicted": [],
        "diff": whole(before, None),
        "msg": "node %s %s" % (name, "would be deleted" if check_mode else "deleted"),
    }

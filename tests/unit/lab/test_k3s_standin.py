"""The pure parts of the lab's stand-in k3s (tests/lab/k3s/k3s_standin.py; NOT K3s)."""

from __future__ import annotations

import os
import sys

import pytest
import yaml

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lab", "k3s")
)

import build
import k3s_standin as k


def test_tokens():
    ca = b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    token = k.format_token(ca, "s3cret")
    assert token.startswith("K10") and token.endswith("::server:s3cret") and len(token.split("::")[0]) == 67
    assert k.parse_token(token) == (k.ca_hash(ca), "server", "s3cret")
    assert k.parse_token("short") == (None, None, "short")
    assert k.bootstrap_key("a") != k.bootstrap_key("b")


def test_bootstrap_data_opens_only_with_its_token():
    blob = k.encrypt_bootstrap("right", {"server-ca.crt": "pem"})
    assert k.decrypt_bootstrap("right", blob) == {"server-ca.crt": "pem"}
    assert k.decrypt_bootstrap("wrong", blob) is None


def test_settings_cli_over_config_over_env(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("token: from-config\nnode-label: [a=1]\ntls-san: one\nunknown-key: 1\n")
    (tmp_path / "config.yaml.d").mkdir()
    (tmp_path / "config.yaml.d" / "10.yaml").write_text("node-label+: [b=2]\n")
    config = k.read_config_files(str(path), yaml.safe_load)
    env = {"K3S_TOKEN": "from-env", "K3S_NODE_NAME": "envname", "K3S_URL": "https://x:6443"}
    s = k.resolve_settings(k.SERVER_FLAGS, {"server": "https://cli:6443"}, config, env)
    assert s["token"] == "from-config" and s["node-name"] == "envname" and s["server"] == "https://cli:6443"
    assert s["node-label"] == ["a=1", "b=2"] and s["tls-san"] == ["one"] and s["cluster-init"] is False


def test_taints_and_labels_parse():
    assert k.parse_taint("dedicated=web:NoSchedule") == {"key": "dedicated", "value": "web", "effect": "NoSchedule"}
    assert k.parse_taint("CriticalAddonsOnly:NoExecute") == {"key": "CriticalAddonsOnly", "effect": "NoExecute"}
    with pytest.raises(k.Fatal):
        k.parse_taint("x:Never")


@pytest.mark.parametrize(
    "selector, match",
    [
        ("node-role.kubernetes.io/control-plane=true", True),
        ("node-role.kubernetes.io/control-plane!=true", False),
        ("tier in (web, db)", True),
        ("tier notin (web)", False),
        ("tier,!missing", True),
        ("missing", False),
    ],
)
def test_label_selectors(selector, match):
    assert k.labels_match(selector, {"node-role.kubernetes.io/control-plane": "true", "tier": "web"}) is match


def test_strategic_merge_patch_merges_taints_by_key():
    node = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]}}
    out = k.strategic_merge_patch(
        node,
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"taints": [{"key": "y", "effect": "NoExecute"}]}},
    )
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert [t["key"] for t in out["spec"]["taints"]] == ["x", "y"]
    out = k.strategic_merge_patch(out, {"spec": {"taints": [{"key": "x", "$patch": "delete"}]}})
    assert [t["key"] for t in out["spec"]["taints"]] == ["y"]
    # a JSON merge patch replaces the list
    assert k.merge_patch(node, {"spec": {"taints": []}})["spec"]["taints"] == []
    assert k.json_patch(node, [{"op": "replace", "path": "/spec/taints", "value": []}])["spec"]["taints"] == []
    with pytest.raises(k.PatchError):
        k.apply_patch("text/plain", node, {})


def pod(name, ready=True, labels=None):
    return {
        "metadata": {"name": name, "namespace": "w", "labels": labels or {"app": "web"}},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_pdb_blocks_an_eviction_that_would_go_below_min_available():
    pdb = {"metadata": {"name": "web", "namespace": "w"}, "spec": {"minAvailable": 2, "selector": {"matchLabels":
           {"app": "web"}}}}  # fmt: skip
    pods = [pod("p1"), pod("p2")]
    assert k.pdb_status(pdb, pods) == {"expectedPods": 2, "currentHealthy": 2, "desiredHealthy": 2,
                                       "disruptionsAllowed": 0}  # fmt: skip
    assert k.eviction_blocked_by(pods[0], [pdb], pods) == "web"
    pods.append(pod("p3"))
    assert k.eviction_blocked_by(pods[0], [pdb], pods) == ""
    # an unhealthy pod may always go; a pod the budget does not select is not its concern
    assert k.eviction_blocked_by(pod("sick", ready=False), [pdb], pods[:2]) == ""
    assert k.eviction_blocked_by(pod("other", labels={"app": "db"}), [pdb], pods[:2]) == ""
    pdb["spec"] = {"maxUnavailable": "50%", "selector": {}}
    # 50% of 3 rounds up to 2 unavailable, as Kubernetes scales a percentage
    assert k.pdb_status(pdb, pods)["disruptionsAllowed"] == 2


def test_render_node_conditions_and_system_taints():
    node = {"metadata": {"name": "s1", "annotations": {"etcd.k3s.cattle.io/node-name": "s1-abc"}},
            "spec": {"unschedulable": True}}  # fmt: skip
    members = [{"name": "s1-abc", "isLearner": True}]
    out = k.Cluster.render_node(node, 5, {"renewTime": 0, "ip": "10.0.0.1", "version": "v1"}, members)
    conds = {c["type"]: c["status"] for c in out["status"]["conditions"]}
    assert conds == {"Ready": "Unknown", "EtcdIsVoter": "False"}
    assert {t["key"] for t in out["spec"]["taints"]} == {
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/unreachable",
    }
    assert out["metadata"]["resourceVersion"] == "5"


def test_version_and_build_of_another_version(tmp_path):
    assert k.version_text().splitlines()[0] == "k3s version v1.31.5+k3s1 (standin)"
    out = build.build("v1.32.1+k3s1", str(tmp_path / "k3s"))
    with open(out, encoding="utf-8") as f:
        assert 'VERSION = "v1.32.1+k3s1"' in f.read()
    assert os.access(out, os.X_OK)
    with pytest.raises(SystemExit):
        build.build("1.32", str(tmp_path / "bad"))

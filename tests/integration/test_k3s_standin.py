"""The lab's stand-in k3s (NOT K3s) as local processes: 3 servers and 2 agents on 127.x.y.n addresses, real etcd.

Shows what the stand-in claims (tests/lab/README.md): cluster-init, learner joins promoted to voters, 5 nodes Ready
and 3 voters, K3s's token files and errors, client-certificate authentication, and that losing etcd quorum makes the
API answer 503. It claims nothing about containers, pods running, networking or kubelets: there are none.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "k3s"))

from localcluster import PYTHON, STANDIN, LocalCluster, wait_for  # noqa: E402

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


def etcd_members(ip: str) -> list[dict]:
    req = urllib.request.Request("http://%s:2379/v3/cluster/member/list" % ip, data=b"{}")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())["members"]


def api(kubeconfig: str) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(k8s_config.new_client_from_config(kubeconfig))


def nodes_by_name(core: k8s.CoreV1Api) -> dict[str, k8s.V1Node]:
    return {n.metadata.name: n for n in core.list_node(_request_timeout=10).items}


def condition(node: k8s.V1Node, kind: str) -> str | None:
    return next((c.status for c in node.status.conditions or [] if c.type == kind), None)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    lc = LocalCluster(str(tmp_path_factory.mktemp("k3s")))
    try:
        yield lc
    finally:
        lc.close()


def test_standin_says_it_is_one() -> None:
    out = subprocess.run([PYTHON, STANDIN, "--version"], capture_output=True, text=True, check=True).stdout
    first = out.splitlines()[0]
    assert first.split(" ")[2] == "v1.31.5+k3s1"
    assert first.endswith("(standin)")


def test_cluster_init_writes_k3s_files(cluster: LocalCluster) -> None:
    s1 = cluster.instance("s1", "server", 1, {"cluster-init": True, "token": "first-secret", "tls-san": ["k3s.test"]})
    cluster.start(s1)
    cluster.wait_ping(s1)
    with open(os.path.join(s1.data_dir, "server", "tls", "server-ca.crt"), "rb") as f:
        ca = f.read()
    token = s1.token()
    assert token == "K10%s::server:first-secret" % hashlib.sha256(ca).hexdigest()
    with open(os.path.join(s1.data_dir, "server", "node-token"), encoding="utf-8") as f:
        assert f.read().strip() == token
    assert os.readlink(os.path.join(s1.data_dir, "server", "agent-token")) == "token"
    assert stat.S_IMODE(os.stat(s1.kubeconfig).st_mode) == 0o600
    with open(s1.kubeconfig, encoding="utf-8") as f:
        kc = yaml.safe_load(f)
    assert kc["clusters"][0]["cluster"]["server"] == "https://%s:6443" % s1.ip
    # /cacerts is the CA the token pins
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(s1.url + "/cacerts", context=ctx, timeout=5) as r:
        assert r.read() == ca


def test_request_without_client_certificate_is_401(cluster: LocalCluster) -> None:
    s1 = cluster.instances["s1"]
    ctx = ssl.create_default_context(cafile=os.path.join(s1.data_dir, "server", "tls", "server-ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(s1.url + "/api/v1/nodes", context=ctx, timeout=5)
    assert e.value.code == 401


def test_servers_join_as_learners_then_voters(cluster: LocalCluster) -> None:
    s1 = cluster.instances["s1"]
    token = s1.token()
    for index, name in ((2, "s2"), (3, "s3")):
        inst = cluster.instance(name, "server", index, {"server": s1.url, "token": token})
        cluster.start(inst, K3S_STANDIN_PROMOTE_DELAY="4")
        learner = wait_for(
            "%s added as an etcd learner" % name,
            lambda name=name: (
                [m for m in etcd_members(s1.ip) if m.get("isLearner") and name in m.get("name", "")]
                or [m for m in etcd_members(s1.ip) if m.get("isLearner")]
            ),
            timeout=30,
            interval=0.2,
        )
        assert learner
        cluster.wait_ping(inst)
        wait_for(
            "%s promoted to voter" % name,
            lambda name=name: any(
                m.get("name", "").startswith(name + "-") and not m.get("isLearner") for m in etcd_members(s1.ip)
            ),
            timeout=60,
        )
    assert len(etcd_members(s1.ip)) == 3


def test_agents_join_and_five_nodes_ready_three_voters(cluster: LocalCluster) -> None:
    s1 = cluster.instances["s1"]
    for index, name in ((11, "a1"), (12, "a2")):
        inst = cluster.instance(name, "agent", index, {"server": s1.url, "token": s1.token()})
        cluster.start(inst)
    core = api(s1.kubeconfig)

    def settled() -> bool:
        nodes = nodes_by_name(core)
        return (
            sorted(nodes) == ["a1", "a2", "s1", "s2", "s3"]
            and all(condition(n, "Ready") == "True" for n in nodes.values())
            and [k for k, n in sorted(nodes.items()) if condition(n, "EtcdIsVoter") == "True"] == ["s1", "s2", "s3"]
        )

    wait_for("5 nodes Ready and 3 etcd voters", settled, timeout=90, errors=(OSError, ApiException))
    nodes = nodes_by_name(core)
    assert nodes["s2"].metadata.labels["node-role.kubernetes.io/control-plane"] == "true"
    assert "node-role.kubernetes.io/control-plane" not in nodes["a1"].metadata.labels
    assert nodes["a1"].status.node_info.kubelet_version == "v1.31.5+k3s1"
    assert condition(nodes["a1"], "EtcdIsVoter") is None
    # every server's kubeconfig reaches the same cluster
    assert sorted(nodes_by_name(api(cluster.instances["s3"].kubeconfig))) == sorted(nodes)
    # the stand-in's own workload: one pod per agent
    pods = core.list_pod_for_all_namespaces().items
    assert sorted(p.spec.node_name for p in pods) == ["a1", "a2"]


def test_k3s_kubectl_get_nodes(cluster: LocalCluster) -> None:
    s1 = cluster.instances["s1"]
    out = subprocess.run(
        [PYTHON, STANDIN, "kubectl", "get", "nodes", "--kubeconfig", s1.kubeconfig],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["s1"][1:3] == ["Ready", "control-plane,etcd,master"]
    assert rows["a2"][1:3] == ["Ready", "<none>"]


def test_wrong_tokens_are_refused_and_the_cluster_untouched(cluster: LocalCluster) -> None:
    s1 = cluster.instances["s1"]
    good = s1.token()
    wrong_secret = good.rsplit(":", 1)[0] + ":not-the-secret"
    joiner = cluster.instance("s4", "server", 4, {"server": s1.url, "token": wrong_secret})
    result = cluster.run_once(joiner)
    assert result.returncode == 1
    assert "401 Unauthorized" in result.stderr
    wrong_ca = "K10" + "0" * 64 + "::server:first-secret"
    joiner = cluster.instance("s5", "server", 5, {"server": s1.url, "token": wrong_ca})
    result = cluster.run_once(joiner)
    assert result.returncode == 1
    assert "token CA hash does not match the Cluster CA certificate hash" in result.stderr
    agent = cluster.instance("a9", "agent", 19, {"server": s1.url, "token": "wrong"})
    result = cluster.run_once(agent)
    assert result.returncode == 1
    assert "401 Unauthorized" in result.stderr
    # a member restarted with another token: K3s's error, and it does not come up
    s3 = cluster.instances["s3"]
    cluster.stop(s3)
    with open(s3.config, encoding="utf-8") as f:
        config = json.load(f)
    changed = dict(config, token="another-secret")
    with open(s3.config, "w", encoding="utf-8") as f:
        json.dump(changed, f)
    result = cluster.run_once(s3)
    assert result.returncode == 1
    assert "bootstrap data already found and encrypted with different token" in result.stderr
    with open(s3.config, "w", encoding="utf-8") as f:
        json.dump(config, f)
    cluster.start(s3)
    cluster.wait_ping(s3)
    members = etcd_members(s1.ip)
    assert len(members) == 3 and not any(m.get("isLearner") for m in members)
    assert sorted(nodes_by_name(api(s1.kubeconfig))) == ["a1", "a2", "s1", "s2", "s3"]


def test_quorum_loss_gives_503_and_comes_back(cluster: LocalCluster) -> None:
    s1, s2, s3 = (cluster.instances[n] for n in ("s1", "s2", "s3"))
    core = api(s1.kubeconfig)
    wait_for("s3 Ready again", lambda: condition(nodes_by_name(core)["s3"], "Ready") == "True", errors=(ApiException,))
    cluster.stop(s2)
    # 2 of 3 voters: still a quorum
    assert "s2" in nodes_by_name(core)
    cluster.stop(s3)
    with pytest.raises(ApiException) as e:
        core.list_node(_request_timeout=15)
    assert e.value.status == 503
    cluster.start(s2)
    cluster.wait_ping(s2)
    wait_for("quorum back with 2 of 3", lambda: nodes_by_name(core), errors=(ApiException,))
    cluster.start(s3)
    wait_for(
        "all 5 Ready again",
        lambda: all(condition(n, "Ready") == "True" for n in nodes_by_name(core).values()),
        errors=(ApiException, OSError),
    )

"""`make demo`'s K3s part: one K3s cluster for one tenant project on lab guests, built with the collection's
playbook k3s.yml, then `kubectl get nodes` from the controller.

The K3s is the lab's STAND-IN (tests/lab/k3s/k3s_standin.py: real etcd, no containers), and the kubectl shown is
the stand-in's `k3s kubectl get nodes`, run on the controller with the kubeconfig the role wrote there.

    python tests/lab/k3s/demo.py          # build (or rerun: nothing changes) and show the nodes
    python tests/lab/k3s/demo.py --down   # remove the demo's guests
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from guestcluster import GuestCluster  # noqa: E402

STATE = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ironcloud-k3s-demo")


def main() -> int:
    cluster = GuestCluster(
        tmp=STATE,
        tenant="demo",
        project="k3s",
        servers={"demo-k3s-s1": 7951},
        agents={"demo-k3s-a1": 7952},
        ctl=7950,
        tag=3950,
        net="10.195.0",
    )
    if sys.argv[1:] == ["--down"]:
        cluster.down()
        return 0
    print("demo: K3s (the lab's STAND-IN, not K3s) for tenant demo, project k3s: 1 server, 1 agent", flush=True)
    cluster.up()
    result = cluster.playbook("k3s.yml")
    print(result.stdout[-3000:])
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return result.returncode
    print("kubectl get nodes (the stand-in's `k3s kubectl`, on the controller, kubeconfig %s):" % cluster.kubeconfig)
    print(cluster.kubectl_nodes("wide"))
    print("remove the demo's guests: python tests/lab/k3s/demo.py --down")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`'s K3s part: the K3s cluster that the lab's cloud spec declares for tenant acme's project web
(`k3s: {servers: [web1], agents: [web2]}` in inventories/lab/cloud-spec.yml), built on the cloud's own VMs with
the collection's playbook k3s.yml as a user runs it: the ironcloud.stack.cloud inventory, SSH to the VMs' floating
IPs with the tenant's key pair; then `kubectl get nodes` from the controller through the kubeconfig k3s.yml wrote.

The K3s is the lab's STAND-IN (tests/lab/k3s/k3s_standin.py: real etcd, no containers), and the kubectl shown is
the stand-in's `k3s kubectl get nodes`, run on the controller. Run after site.yml (which made the VMs):

    python tests/lab/k3s/demo.py      # build (a rerun changes nothing) and show the nodes
"""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)

import build as standin_build  # noqa: E402

STANDIN = os.path.join(HERE, "k3s_standin.py")
SPEC = os.path.join(ROOT, "inventories", "lab", "cloud-spec.yml")
INVENTORY = os.path.join(ROOT, "inventories", "lab-cloud", "lab.cloud.yml")
TENANT, PROJECT = "acme", "web"


def main() -> int:
    with open(SPEC, encoding="utf-8") as f:
        tenants = yaml.safe_load(f)["all"]["vars"]["cloud_tenants"]
    project = next(p for t in tenants if t["name"] == TENANT for p in t["projects"] if p["name"] == PROJECT)
    version = project["k3s"]["version"]
    credentials = os.environ.get("IRONCLOUD_CREDENTIALS_DIR") or os.path.join(
        os.path.expanduser("~"), ".local", "share", "ironcloud", "credentials"
    )
    artifacts = standin_build.build_artifacts(version, os.path.join(ROOT, ".lab", "k3s", "artifacts", version))
    kubeconfig = os.path.join(credentials, "%s-%s.kubeconfig" % (TENANT, PROJECT))
    print(
        "demo: K3s %s (the lab's STAND-IN, not K3s) for %s/%s on its VMs %s (servers) and %s (agents)"
        % (version, TENANT, PROJECT, ", ".join(project["k3s"]["servers"]), ", ".join(project["k3s"]["agents"])),
        flush=True,
    )
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", INVENTORY, "--limit", "tenant_" + TENANT]
    argv += ["--private-key", os.path.join(credentials, "%s_ed25519" % TENANT)]
    argv += [os.path.join(ROOT, "playbooks", "k3s.yml"), "-e", "cloud_spec=" + SPEC]
    argv += ["-e", "k3s_artifacts_dir=" + artifacts, "-e", "k3s_credentials_dir=" + credentials]
    argv += ["-e", "k3s_service_type=exec"]  # the stand-in does not notify systemd
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_HOST_KEY_CHECKING="False")
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800, check=False)
    recap = result.stdout[result.stdout.rfind("PLAY RECAP") :] if "PLAY RECAP" in result.stdout else ""
    print(recap or result.stdout[-3000:])
    if result.returncode != 0:
        print(result.stdout[-6000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
        return result.returncode
    print("kubectl get nodes (the stand-in's `k3s kubectl`, on the controller, kubeconfig %s):" % kubeconfig)
    shown = subprocess.run(
        [sys.executable, STANDIN, "kubectl", "get", "nodes", "-o", "wide", "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        check=False,
    )
    print(shown.stdout or shown.stderr)
    return shown.returncode


if __name__ == "__main__":
    sys.exit(main())

"""The whole cloud: playbooks/site.yml on the lab, twice. The second run changes nothing.

Runs after the other integration tests (conftest.py moves it last): it creates the lab spec's tenants and
VMs (inventories/lab/cloud-spec.yml), as `make demo` does, and leaves them for the demo. The summary is read at
the end (the nodes count the VMs, the tenants' pools are listed, each VM's way in: floating IP, DNS name, ssh
command); playbooks/verify.yml (also run by `make demo`) checks from inside every VM, over SSH through its
floating IP, that its project's VMs and router answer, their names resolve and other tenants do not answer.
"""

from __future__ import annotations

import os
import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VERIFY = os.path.join(ROOT, "playbooks", "verify.yml")
CLOUD_INVENTORY = os.path.join(ROOT, "inventories", "lab-cloud", "lab.cloud.yml")

RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output: str) -> dict[str, tuple[int, int, int]]:
    """host -> (changed, unreachable, failed) from the PLAY RECAP."""
    return {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4))) for m in RECAP.finditer(output)}


def summary_of(output: str) -> str:
    """The printed summary: the output of the task that prints it."""
    assert "TASK [Print the summary]" in output, output[-3000:]
    return output.split("TASK [Print the summary]", 1)[1].split("PLAY RECAP", 1)[0]


def vms_per_node(summary: str) -> dict[str, int]:
    """node -> the number of VMs its summary line shows."""
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"(pve\d+)\s+online\s+\d+ cores\s+[\d.]+ GiB\s+(\d+) VMs", summary)
    }


def spec_tenants_with_storage() -> list[str]:
    with open(os.path.join(ROOT, "inventories", "lab", "cloud-spec.yml"), encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    tenants = spec["all"]["vars"]["cloud_tenants"]
    return [t["name"] for t in tenants if t.get("quota", {}).get("storage_gb")]


def spec_tenant_names() -> list[str]:
    with open(os.path.join(ROOT, "inventories", "lab", "cloud-spec.yml"), encoding="utf-8") as f:
        return [t["name"] for t in yaml.safe_load(f)["all"]["vars"]["cloud_tenants"]]


def test_site_twice(ansible_playbook):
    site = os.path.join(ROOT, "playbooks", "site.yml")
    first = ansible_playbook(site)
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-6000:]
    hosts = recap(out)
    assert {"localhost", "pve1", "pve2", "pve3", "ceph-admin"} <= set(hosts)
    assert all(unreachable == 0 and failed == 0 for _c, unreachable, failed in hosts.values()), hosts
    assert len([h for h in hosts if h.startswith("vm/")]) == 5  # the lab spec's five VMs
    summary = summary_of(out)
    nodes = vms_per_node(summary)
    assert {"pve1", "pve2", "pve3"} <= set(nodes), summary
    # Read at the end: the nodes hold the spec's five VMs (and maybe the lab's template and other tests' VMs).
    assert sum(nodes.values()) >= 5, "the summary was read before the VMs existed:\n%s" % summary
    pools = summary.split("Ceph pools:", 1)[1].split("Tenants", 1)[0]
    tenants = spec_tenants_with_storage()
    assert tenants, "the lab spec has no tenant with storage"
    for tenant in tenants:
        assert re.search(r"ic-%s\s+rbd" % re.escape(tenant), pools), "tenant pool of %s missing:\n%s" % (tenant, pools)

    way_in = summary.split("The way in", 1)[1] if "The way in" in summary else ""
    logins = re.findall(r"ssh -i (\S+) (\w+)@(10\.89\.30\.\d+)", way_in)
    assert len(logins) == 5, "the summary does not end with the five VMs' ssh commands:\n%s" % summary
    assert all(os.path.exists(key) and user == "debian" for key, user, _ip in logins), logins

    tenants = ":".join("tenant_" + t for t in spec_tenant_names())
    verify = ansible_playbook(VERIFY, "-i", CLOUD_INVENTORY, "-e", "verify_hosts=" + tenants)
    out = verify.stdout + verify.stderr
    assert verify.returncode == 0, out[-6000:]
    flat = re.sub(r"\s*\n\s*", " ", out)  # the callback wraps long lines
    assert "VMs: 5, in: 5;" in flat, out[-4000:]
    assert "projects connected and names resolved: yes; tenants isolated: yes" in flat, out[-4000:]
    assert "WRONG" not in out

    second = ansible_playbook(site)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-6000:]
    changed = {host: c for host, (c, _u, _f) in recap(out).items() if c}
    assert changed == {}, "a second site.yml run changed: %s\n%s" % (changed, out[-4000:])

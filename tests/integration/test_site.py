"""The whole cloud: playbooks/site.yml on the lab, twice. The second run changes nothing.

Runs after the other integration tests (conftest.py moves it last): it creates the lab spec's tenants and
VMs (inventories/lab/cloud-spec.yml), as `make demo` does, and leaves them for the demo. The summary is read at
the end (the nodes count the VMs, the tenants' pools are listed); the lab's ping matrix
(tests/lab/playbooks/ping_matrix.yml, also run by `make demo`) shows every project connected and isolated, and
names the VM that answered each ping.
"""

from __future__ import annotations

import os
import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PING_MATRIX = os.path.join(ROOT, "tests", "lab", "playbooks", "ping_matrix.yml")

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

    matrix = ansible_playbook(PING_MATRIX)
    out = matrix.stdout + matrix.stderr
    assert matrix.returncode == 0, out[-6000:]
    assert "Projects connected: yes; projects isolated: yes" in out
    assert "WRONG" not in out and "ANOTHER PROJECT" not in out
    assert re.search(r"answered by\s+vm\d+@pve\d+\s+\(same project\)", out), out[-4000:]

    second = ansible_playbook(site)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-6000:]
    changed = {host: c for host, (c, _u, _f) in recap(out).items() if c}
    assert changed == {}, "a second site.yml run changed: %s\n%s" % (changed, out[-4000:])

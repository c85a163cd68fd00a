"""The whole cloud: playbooks/site.yml on the lab, twice. The second run changes nothing.

Runs after the other integration tests (conftest.py moves it last): it creates the lab spec's tenants and
VMs (inventories/lab/cloud-spec.yml), as `make demo` does, and leaves them for the demo.
"""

from __future__ import annotations

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output: str) -> dict[str, tuple[int, int, int]]:
    """host -> (changed, unreachable, failed) from the PLAY RECAP."""
    return {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4))) for m in RECAP.finditer(output)}


def test_site_twice(ansible_playbook):
    site = os.path.join(os.path.dirname(os.path.dirname(HERE)), "playbooks", "site.yml")
    first = ansible_playbook(site)
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-6000:]
    hosts = recap(out)
    assert {"localhost", "pve1", "pve2", "pve3", "ceph-admin"} <= set(hosts)
    assert all(unreachable == 0 and failed == 0 for _c, unreachable, failed in hosts.values()), hosts
    assert len([h for h in hosts if h.startswith("vm/")]) == 5  # the lab spec's five VMs
    assert "Projects connected: yes; projects isolated: yes" in out
    for node in ("pve1", "pve2", "pve3"):
        assert re.search(r"%s\s+online\s+\d+ cores" % node, out)

    second = ansible_playbook(site)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-6000:]
    changed = {host: c for host, (c, _u, _f) in recap(out).items() if c}
    assert changed == {}, "a second site.yml run changed: %s\n%s" % (changed, out[-4000:])

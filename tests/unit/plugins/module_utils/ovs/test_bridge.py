"""ensure_bridge against the in-memory OVS."""

from __future__ import annotations

from typing import Any

import pytest
from fakeovs import FakeOvs

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.bridge import ensure_bridge
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs, OvsError


def run(fake: FakeOvs, check: bool = False, **kw: Any) -> dict[str, Any]:
    p = {
        "name": "br-phy",
        "state": "present",
        "datapath_type": "netdev",
        "fail_mode": None,
        "other_config": None,
        "external_ids": None,
        "ports": None,
    }
    p.update(kw)
    return ensure_bridge(Ovs(fake.run, "ovs-vsctl"), p, check)


def test_check_apply_check_apply():
    fake = FakeOvs()
    fake._exec(["add-br", "other"])
    kw = {"ports": ["eth-u"], "other_config": {"hwaddr": "aa:bb:cc:00:00:01"}, "external_ids": {"role": "underlay"}}
    first = run(fake, check=True, **kw)
    assert first["changed"] and "br-phy" not in fake.bridges
    assert first["bridge"]["ports"] == ["eth-u"]
    assert first["diff"]["after"]["state"] == "present"
    applied = run(fake, **kw)
    assert applied["changed"]
    assert fake.bridges["br-phy"]["other_config"] == {"hwaddr": "aa:bb:cc:00:00:01"}
    assert fake.bridges["br-phy"]["datapath_type"] == "netdev"
    assert applied["bridge"] == dict(first["bridge"], fail_mode=None)
    assert not run(fake, check=True, **kw)["changed"]
    assert not run(fake, **kw)["changed"]
    assert fake.transactions == 1


def test_settings_converge_and_other_keys_stay():
    fake = FakeOvs()
    run(fake, other_config={"hwaddr": "aa:bb:cc:00:00:01", "x": "1"})
    changed = run(fake, fail_mode="standalone", other_config={"hwaddr": "aa:bb:cc:00:00:02"})
    assert changed["changed"]
    assert changed["diff"] == {
        "before": {"fail_mode": None, "other_config": {"hwaddr": "aa:bb:cc:00:00:01"}},
        "after": {"fail_mode": "standalone", "other_config": {"hwaddr": "aa:bb:cc:00:00:02"}},
    }
    assert fake.bridges["br-phy"]["other_config"] == {"hwaddr": "aa:bb:cc:00:00:02", "x": "1"}


def test_datapath_type_default_system_and_empty_means_system():
    fake = FakeOvs()
    fake._exec(["add-br", "br-int"])  # OVS stores "" for the default
    assert not run(fake, name="br-int", datapath_type="system")["changed"]


def test_port_of_another_bridge_is_an_error():
    fake = FakeOvs()
    fake._exec(["add-br", "vmbr9"])
    fake._exec(["add-port", "vmbr9", "eno1"])
    with pytest.raises(ValidationError, match=r"ports\[0\]: eno1 is already a port of bridge vmbr9"):
        run(fake, ports=["eno1"])
    assert fake.transactions == 0


def test_failed_port_reported():
    fake = FakeOvs()
    orig = fake._exec

    def exec_with_error(c):
        orig(c)
        if c[0] == "add-port":
            fake.ifaces[c[2]]["error"] = "could not open network device nic9 (No such device)"

    fake._exec = exec_with_error  # type: ignore[method-assign]
    with pytest.raises(OvsError, match="ports: nic9: could not open network device nic9"):
        run(fake, ports=["nic9"])


def test_absent():
    fake = FakeOvs()
    run(fake)
    gone = run(fake, state="absent")
    assert gone["changed"] and gone["bridge"] is None and "br-phy" not in fake.bridges
    assert not run(fake, state="absent")["changed"]


def test_bad_name():
    with pytest.raises(ValidationError, match="name: 'a-very-long-bridge-name'"):
        run(FakeOvs(), name="a-very-long-bridge-name")

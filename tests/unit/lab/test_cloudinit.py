"""The lab's NoCloud seed (tests/lab/pve/cloudinit.py) is what PVE's own generator writes for the same VM config.

files/pve_nocloud.json holds, per case, the VM config and the files PVE wrote for it: the output of
`cloudinit_userdata`, `nocloud_network` and `nocloud_gen_metadata` of PVE/QemuServer/Cloudinit.pm
(proxmox/qemu-server at e6352be67f70042a7433a3a3c712b36d02f9f7cb, run with Perl and stub PVE::* modules, the
node's resolv.conf empty).
"""

from __future__ import annotations

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lab", "pve"))

import cloudinit  # noqa: E402

with open(os.path.join(HERE, "files", "pve_nocloud.json"), encoding="utf-8") as f:
    CASES = json.load(f)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
@pytest.mark.parametrize("name", ["user-data", "network-config", "meta-data"])
def test_seed_is_what_pve_writes(case, name):
    assert cloudinit.nocloud_seed(case["conf"], case["vmid"])[name] == case["pve"][name]


def test_seed_has_an_empty_vendor_data():
    assert cloudinit.nocloud_seed(CASES[0]["conf"], CASES[0]["vmid"])["vendor-data"] == ""


def test_instance_id_changes_with_the_config():
    conf = dict(CASES[0]["conf"])
    before = cloudinit.nocloud_seed(conf, 7001)["meta-data"]
    conf["ipconfig0"] = "ip=10.1.0.6/24,gw=10.1.0.1"
    assert cloudinit.nocloud_seed(conf, 7001)["meta-data"] != before


def test_node_resolv_conf_is_the_fallback():
    files = cloudinit.nocloud_seed(
        {"net0": "virtio=02:00:00:00:00:01"}, 5, host_search="lab.test", host_dns=("10.0.0.2",)
    )
    assert files["network-config"].endswith(
        "    - type: nameserver\n      address:\n      - '10.0.0.2'\n      search:\n      - 'lab.test'\n"
    )


def test_a_static_address_without_prefix_is_refused():
    with pytest.raises(ValueError, match="not a CIDR"):
        cloudinit.nocloud_seed({"net0": "virtio=02:00:00:00:00:01", "ipconfig0": "ip=10.0.0.5"}, 5)


def test_a_nic_without_mac_is_refused():
    with pytest.raises(ValueError, match="net0.*no mac address"):
        cloudinit.nocloud_seed({"net0": "bridge=br-int", "ipconfig0": "ip=dhcp"}, 5)


def test_stored_password_is_a_stable_sha256_crypt_hash():
    hashed = cloudinit.stored_password("s3cret pass", 7001)
    assert hashed.startswith("$5$") and "s3cret" not in hashed
    assert cloudinit.stored_password("s3cret pass", 7001) == hashed  # same seed, same instance-id at each start
    assert cloudinit.stored_password("s3cret pass", 7002) != hashed
    assert cloudinit.stored_password(hashed, 7001) == hashed  # already a hash: kept, as PVE's API does
